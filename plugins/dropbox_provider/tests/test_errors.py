"""Every SDK failure the plugin can meet, and the edgesync error it becomes (a table)."""

from __future__ import annotations

import dropbox.auth
import dropbox.exceptions as dbx
import dropbox.files as f
import pytest
import requests
from edgesync_dropbox._errors import (
    SessionExpiredError,
    SessionOffsetError,
    error_tags,
    translate_errors,
)

from edgesync import errors


def api(error) -> dbx.ApiError:
    return dbx.ApiError("req-1", error, None, None)


def write_failed(write_error) -> f.UploadError:
    return f.UploadError.path(f.UploadWriteFailed(reason=write_error, upload_session_id=""))


TABLE = [
    (api(write_failed(f.WriteError.conflict(f.WriteConflictError.file))),
     errors.RevisionConflictError),
    (api(write_failed(f.WriteError.insufficient_space)), errors.QuotaExceededError),
    (api(write_failed(f.WriteError.no_write_permission)), errors.PermissionDeniedError),
    (api(write_failed(f.WriteError.disallowed_name)), errors.InvalidPathError),
    (api(write_failed(f.WriteError.malformed_path(None))), errors.InvalidPathError),
    (api(write_failed(f.WriteError.too_many_write_operations)), errors.RateLimitedError),
    (api(f.UploadError.content_hash_mismatch), errors.ServiceUnavailableError),
    (api(f.UploadError.payload_too_large), errors.ProviderError),
    (api(f.GetMetadataError.path(f.LookupError.not_found)), errors.NotFoundError),
    (api(f.DownloadError.path(f.LookupError.not_found)), errors.NotFoundError),
    (api(f.DownloadError.path(f.LookupError.not_file)), errors.NotAFileError),
    (api(f.DeleteError.path_lookup(f.LookupError.not_found)), errors.NotFoundError),
    (api(f.DeleteError.path_write(f.WriteError.conflict(f.WriteConflictError.file))),
     errors.RevisionConflictError),
    (api(f.UploadSessionAppendError.incorrect_offset(
        f.UploadSessionOffsetError(correct_offset=7))), SessionOffsetError),
    (api(f.UploadSessionAppendError.not_found), SessionExpiredError),
    (api(f.UploadSessionFinishError.lookup_failed(f.UploadSessionLookupError.not_found)),
     errors.ServiceUnavailableError),
    (api(f.UploadSessionFinishError.too_many_write_operations), errors.RateLimitedError),
    (dbx.AuthError("req", dropbox.auth.AuthError.expired_access_token), errors.TokenExpiredError),
    (dbx.AuthError("req", dropbox.auth.AuthError.invalid_access_token), errors.AuthError),
    (dbx.RateLimitError("req", None, backoff=3), errors.RateLimitedError),
    (dbx.InternalServerError("req", 503, "down"), errors.ServiceUnavailableError),
    (dbx.BadInputError("req", "Error in call to API function"), errors.ProviderError),
    (dbx.HttpError("req", 502, "bad gateway"), errors.ServiceUnavailableError),
    (dbx.HttpError("req", 418, "teapot"), errors.ProviderError),
    (requests.exceptions.ConnectionError("reset"), errors.ServiceUnavailableError),
    (requests.exceptions.ReadTimeout("slow"), errors.ServiceUnavailableError),
    (requests.exceptions.ChunkedEncodingError("cut"), errors.ServiceUnavailableError),
    (AssertionError("application/json; charset=utf-8"), errors.ServiceUnavailableError),
]


@pytest.mark.parametrize("raised, expected", TABLE,
                         ids=lambda x: type(x).__name__ if isinstance(x, Exception)
                         else x.__name__)
def test_translation(raised, expected):
    with pytest.raises(errors.EdgesyncError) as caught, translate_errors("a/b.docx"):
        raise raised
    assert type(caught.value) is expected
    assert caught.value.__cause__ is raised
    assert caught.value.path == "a/b.docx" or expected is errors.AuthError


def test_rate_limits_carry_the_backoff():
    with pytest.raises(errors.RateLimitedError) as caught, translate_errors("x"):
        raise dbx.RateLimitError("req", None, backoff=7)
    assert caught.value.retry_after == 7.0


def test_a_refused_refresh_token_says_how_to_relink():
    with pytest.raises(errors.AuthError, match="edgesync auth dropbox") as caught, \
            translate_errors("x"):
        raise dbx.AuthError("req", dropbox.auth.AuthError.invalid_access_token)
    assert caught.value.fatal


def test_edgesync_errors_pass_through_unchanged():
    original = errors.NotFoundError("gone", path="x")
    with pytest.raises(errors.NotFoundError) as caught, translate_errors("x"):
        raise original
    assert caught.value is original


def test_error_tags_flattens_nested_unions():
    error = write_failed(f.WriteError.conflict(f.WriteConflictError.file))
    assert error_tags(error) == ["path", "conflict", "file"]
    assert error_tags(None) == []


def test_an_offset_error_carries_where_the_session_is():
    with pytest.raises(SessionOffsetError) as caught, translate_errors("big.bin"):
        raise api(f.UploadSessionAppendError.incorrect_offset(
            f.UploadSessionOffsetError(correct_offset=8388608)))
    assert caught.value.correct_offset == 8388608 and caught.value.retryable
    assert caught.value.to_dict()["correct_offset"] == 8388608
