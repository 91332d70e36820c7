"""Graph responses and MSAL failures, and the edgesync error each becomes (a table)."""

from __future__ import annotations

import json

import pytest
import requests
from edgesync_onedrive._errors import auth_error, graph_codes, raise_for_graph, translate_errors

from edgesync import errors


def response(status: int, code: str | None = None, inner: str | None = None,
             headers: dict | None = None) -> requests.Response:
    made = requests.Response()
    made.status_code = status
    body = {"error": {"code": code, "message": "m"}} if code else {}
    if inner:
        body["error"]["innerError"] = {"code": inner, "date": "2026-11-25T00:00:00"}
    made._content = json.dumps(body).encode()
    made.headers.update(headers or {})
    return made


TABLE = [
    (response(404, "itemNotFound"), errors.NotFoundError),
    (response(409, "nameAlreadyExists"), errors.RevisionConflictError),
    (response(412, "resourceModified"), errors.RevisionConflictError),
    (response(401, "InvalidAuthenticationToken"), errors.TokenExpiredError),
    (response(403, "accessDenied"), errors.PermissionDeniedError),
    (response(507, "quotaLimitReached"), errors.QuotaExceededError),
    (response(429, "activityLimitReached", headers={"Retry-After": "7"}),
     errors.RateLimitedError),
    (response(429, "TooManyRequests"), errors.RateLimitedError),
    (response(503, "serviceNotAvailable", headers={"Retry-After": "2"}),
     errors.RateLimitedError),
    (response(503, "serviceNotAvailable"), errors.ServiceUnavailableError),
    (response(500, "generalException"), errors.ServiceUnavailableError),
    (response(502), errors.ServiceUnavailableError),
    (response(504), errors.ServiceUnavailableError),
    (response(509, "bandwidthLimitExceeded"), errors.ServiceUnavailableError),
    (response(423, "resourceLocked"), errors.ServiceUnavailableError),
    (response(400, "invalidRequest"), errors.InvalidPathError),
    (response(413, "maxFragmentLengthExceeded"), errors.ProviderError),
    (response(416, "invalidRange", "fragmentOverlap"), errors.ServiceUnavailableError),
]


@pytest.mark.parametrize("failed, expected", TABLE,
                         ids=lambda x: str(x.status_code) if isinstance(x, requests.Response)
                         else x.__name__)
def test_translation(failed, expected):
    with pytest.raises(errors.EdgesyncError) as caught:
        raise_for_graph(failed, "a/b.docx")
    assert type(caught.value) is expected and caught.value.path == "a/b.docx"


def test_success_raises_nothing():
    raise_for_graph(response(200), "x")
    raise_for_graph(response(202), "x")


def test_retry_after_is_read():
    with pytest.raises(errors.RateLimitedError) as caught:
        raise_for_graph(response(429, "activityLimitReached", headers={"Retry-After": "7"}), "x")
    assert caught.value.retry_after == 7.0


def test_quota_is_fatal_and_never_retried():
    with pytest.raises(errors.QuotaExceededError) as caught:
        raise_for_graph(response(507, "quotaLimitReached"), "x")
    assert caught.value.fatal and not caught.value.retryable


def test_codes_accept_both_spellings_of_inner_error():
    made = response(416)
    made._content = json.dumps({"error": {"code": "invalidRange",
                                          "innererror": {"code": "fragmentOverlap"}}}).encode()
    assert graph_codes(made) == ["invalidRange", "fragmentOverlap"]


@pytest.mark.parametrize("raised", [requests.exceptions.ConnectionError("reset"),
                                    requests.exceptions.ReadTimeout("slow"),
                                    requests.exceptions.ChunkedEncodingError("cut")])
def test_transport_failures_are_service_unavailable(raised):
    with pytest.raises(errors.ServiceUnavailableError) as caught, translate_errors("x"):
        raise raised
    assert caught.value.__cause__ is raised


def test_an_msal_service_error_is_service_unavailable():
    from msal.exceptions import MsalServiceError

    with pytest.raises(errors.ServiceUnavailableError), translate_errors("x"):
        raise MsalServiceError(error="temporarily_unavailable", error_description="5xx")


def test_invalid_grant_says_how_to_sign_in_again():
    error = auth_error({"error": "invalid_grant", "error_description": "AADSTS700082: expired"})
    assert isinstance(error, errors.AuthError) and "edgesync auth onedrive" in error.message
    assert isinstance(auth_error({"error": "temporarily_unavailable"}),
                      errors.ServiceUnavailableError)
