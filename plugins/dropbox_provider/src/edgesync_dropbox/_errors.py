"""Dropbox SDK errors -> edgesync errors: the one place where SDK exceptions stop.

Every call into the SDK runs inside :func:`translate_errors`. It maps each
failure to the most specific :mod:`edgesync.errors` class, with ``raise ...
from exc`` so the SDK's exception stays available as ``__cause__``. The edge
decides what to retry from the class alone.

Route errors are stone unions nested several levels deep (an upload conflict
is ``UploadError.path -> UploadWriteFailed.reason -> WriteError.conflict ->
WriteConflictError.file``); :func:`error_tags` flattens one into its chain of
tags, and the table below classifies by the tags it contains.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from edgesync.errors import (
    AuthError,
    EdgesyncError,
    InvalidPathError,
    NotAFileError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    QuotaExceededError,
    RateLimitedError,
    RevisionConflictError,
    ServiceUnavailableError,
    TokenExpiredError,
)

__all__ = ["RELINK", "SessionExpiredError", "SessionOffsetError", "error_tags",
           "translate_errors"]

#: What a person does when Dropbox refuses the app's authorisation.
RELINK = ("run 'edgesync auth dropbox' again to link the Dropbox account, "
          "then restart the edge")

class SessionOffsetError(ServiceUnavailableError):
    """An upload-session request at another offset than Dropbox holds.

    :ivar correct_offset: the offset Dropbox says the session is at.
    """

    def __init__(self, message: str, *, path: str = "", correct_offset: int = 0) -> None:
        super().__init__(message, path=path)
        self.correct_offset = correct_offset

    def _fields(self) -> dict[str, Any]:
        return {**super()._fields(), "correct_offset": self.correct_offset}


class SessionExpiredError(ServiceUnavailableError):
    """Dropbox no longer knows the upload session (expired after 7 days, or unknown)."""


# Tag -> (class, message). The first tag of the chain found here decides.
_BY_TAG: list[tuple[str, type[ProviderError], str]] = [
    ("incorrect_offset", ServiceUnavailableError,
     "the upload session is at another offset than expected; resuming"),
    ("lookup_failed", ServiceUnavailableError,
     "the upload session was not found (expired or unknown); the upload starts again"),
    ("content_hash_mismatch", ServiceUnavailableError,
     "Dropbox received other bytes than were sent (content hash mismatch); "
     "the upload will be repeated"),
    ("too_many_write_operations", RateLimitedError,
     "Dropbox is busy with other writes to this account; retrying shortly"),
    ("conflict", RevisionConflictError, "the file changed in Dropbox since it was last seen"),
    ("not_found", NotFoundError, "no such file in Dropbox"),
    ("not_file", NotAFileError, "a folder, not a file, is at this path in Dropbox"),
    ("insufficient_space", QuotaExceededError,
     "the Dropbox account is full; free some space or upgrade the plan"),
    ("team_folder_insufficient_space", QuotaExceededError, "the team folder is full"),
    ("member_folder_insufficient_space", QuotaExceededError, "the member folder is full"),
    ("no_write_permission", PermissionDeniedError, "no permission to write this path"),
    ("access_restricted", PermissionDeniedError, "access to this path is restricted"),
    ("team_folder", PermissionDeniedError, "team folders cannot be written this way"),
    ("malformed_path", InvalidPathError, "Dropbox refuses this path"),
    ("disallowed_name", InvalidPathError, "Dropbox does not allow this name"),
    ("payload_too_large", ProviderError, "the upload is too large for one request"),
]


def error_tags(value: Any, depth: int = 0) -> list[str]:
    """The chain of union tags in a stone error value, outermost first.

    :param value: a stone union (``UploadError``, ``LookupError``, ...) or a
        struct holding one in ``reason`` (``UploadWriteFailed``).
    :returns: e.g. ``["path", "reason", "conflict", "file"]`` without the
        struct hops: ``["path", "conflict", "file"]``.
    """
    if value is None or depth > 8:
        return []
    tag = getattr(value, "_tag", None)
    if tag is not None:
        return [tag, *error_tags(getattr(value, "_value", None), depth + 1)]
    for field in ("reason", "error"):  # structs that carry the union one level down
        inner = getattr(value, field, None)
        if inner is not None:
            return error_tags(inner, depth + 1)
    return []


@contextlib.contextmanager
def translate_errors(path: str = "") -> Iterator[None]:
    """Run SDK calls; re-raise their failures as :mod:`edgesync.errors`.

    :param path: the edgesync path concerned, for the errors' ``path``.
    """
    import dropbox.exceptions as dbx
    import requests

    try:
        yield
    except EdgesyncError:
        raise
    except dbx.AuthError as exc:
        tags = error_tags(exc.error)
        if "expired_access_token" in tags:
            raise TokenExpiredError("the Dropbox access token expired", path=path) from exc
        raise AuthError(f"Dropbox refused the app's authorisation ({'/'.join(tags) or exc}); "
                        + RELINK, path=path) from exc
    except dbx.RateLimitError as exc:
        raise RateLimitedError("Dropbox asked to slow down", path=path,
                               retry_after=float(exc.backoff) if exc.backoff else None) from exc
    except dbx.InternalServerError as exc:
        raise ServiceUnavailableError(f"Dropbox failed (HTTP {exc.status_code})",
                                      path=path) from exc
    except dbx.ApiError as exc:
        tags = error_tags(exc.error)
        if tags[:1] == ["incorrect_offset"]:  # an append's: where the session really is
            raise SessionOffsetError(
                f"{path}: the upload session is at another offset", path=path,
                correct_offset=exc.error.get_incorrect_offset().correct_offset) from exc
        if tags[:1] == ["not_found"] and type(exc.error).__name__.startswith("UploadSession"):
            raise SessionExpiredError(f"{path}: the Dropbox upload session expired",
                                      path=path) from exc
        for tag, cls, message in _BY_TAG:
            if tag in tags:
                raise cls(f"{path}: {message} ({'/'.join(tags)})", path=path) from exc
        raise ProviderError(f"{path}: Dropbox refused: {'/'.join(tags) or exc}",
                            path=path) from exc
    except dbx.BadInputError as exc:
        raise ProviderError(f"Dropbox refused the request as malformed: {exc.message}",
                            path=path) from exc
    except dbx.HttpError as exc:
        cls = ServiceUnavailableError if exc.status_code >= 500 else ProviderError
        raise cls(f"Dropbox answered HTTP {exc.status_code}", path=path) from exc
    # Connection errors before OSError: requests' ConnectionError is an OSError too.
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError) as exc:
        raise ServiceUnavailableError(f"cannot reach Dropbox: {type(exc).__name__}",
                                      path=path) from exc
    except AssertionError as exc:  # the SDK asserts on malformed responses
        raise ServiceUnavailableError(f"Dropbox sent a malformed response ({exc})",
                                      path=path) from exc
