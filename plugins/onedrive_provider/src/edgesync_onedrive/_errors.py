"""Graph and MSAL failures -> edgesync errors: the one place where they stop.

Graph answers errors as ``{"error": {"code", "message", "innerError": {...}}}``
(``innererror`` also occurs). :func:`raise_for_graph` classifies a response by
its status and codes; :func:`translate_errors` wraps transport and MSAL calls.
OneDrive's traps are encoded here: 507 (quota) is never retried; 429 and 503
carry ``Retry-After``; a 412 or ``nameAlreadyExists`` is a conflict, never
something to overwrite.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from edgesync.errors import (
    AuthError,
    EdgesyncError,
    InvalidPathError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    QuotaExceededError,
    RateLimitedError,
    RevisionConflictError,
    ServiceUnavailableError,
    TokenExpiredError,
)

__all__ = ["RELINK", "auth_error", "graph_codes", "raise_for_graph", "translate_errors"]

#: What a person does when Microsoft refuses the sign-in.
RELINK = ("run 'edgesync auth onedrive' again to sign in, then restart the edge")


def graph_codes(response: Any) -> list[str]:
    """The error codes of a Graph error body, outer first (``["resourceModified"]``)."""
    try:
        error = response.json().get("error", {})
    except ValueError:
        return []
    codes = [error.get("code")]
    inner = error.get("innerError") or error.get("innererror") or {}
    while isinstance(inner, dict) and inner:
        codes.append(inner.get("code"))
        inner = inner.get("innerError") or inner.get("innererror") or {}
    return [code for code in codes if isinstance(code, str)]


def _retry_after(response: Any) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def raise_for_graph(response: Any, path: str) -> None:
    """Raise the edgesync error for a failed Graph (or upload URL) response; else return.

    :param response: a :class:`requests.Response`.
    :param path: the edgesync path concerned.
    """
    status = response.status_code
    if status < 400:
        return
    codes = graph_codes(response)
    what = "/".join(codes) or f"HTTP {status}"
    if status in (409, 412) or "nameAlreadyExists" in codes or "resourceModified" in codes:
        raise RevisionConflictError(f"{path} changed in OneDrive since it was last seen ({what})",
                                    path=path)
    if status == 404:
        raise NotFoundError(f"{path}: not found in OneDrive ({what})", path=path)
    if status == 401:
        raise TokenExpiredError(f"OneDrive refused the access token ({what})", path=path)
    if status == 403:
        raise PermissionDeniedError(f"{path}: no permission in OneDrive ({what})", path=path)
    if status == 507 or "quotaLimitReached" in codes:
        raise QuotaExceededError("the OneDrive is full; free some space or upgrade the plan",
                                 path=path)
    if status == 429 or (status == 503 and _retry_after(response) is not None):
        raise RateLimitedError(f"OneDrive asked to slow down ({what})", path=path,
                               retry_after=_retry_after(response))
    if status in (423, 500, 502, 503, 504, 509):
        raise ServiceUnavailableError(f"OneDrive failed ({what})", path=path)
    if status == 416:  # the session holds other bytes than this fragment assumed
        raise ServiceUnavailableError(f"{path}: the upload session is elsewhere ({what}); "
                                      "resuming from what OneDrive has", path=path)
    if status == 400 and ("invalidRequest" in codes or "nameInvalid" in codes):
        raise InvalidPathError(f"{path}: OneDrive refuses this path ({what})", path=path)
    raise ProviderError(f"{path}: OneDrive refused the request ({what})", path=path)


@contextlib.contextmanager
def translate_errors(path: str = "") -> Iterator[None]:
    """Run transport and MSAL calls; re-raise their failures as :mod:`edgesync.errors`."""
    import requests

    try:
        yield
    except EdgesyncError:
        raise
    # Connection errors before OSError: requests' ConnectionError is an OSError too.
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError) as exc:
        raise ServiceUnavailableError(f"cannot reach OneDrive: {type(exc).__name__}",
                                      path=path) from exc
    except Exception as exc:
        # MSAL raises MsalServiceError for a 5xx of the token endpoint (imported
        # lazily: msal is only loaded when the provider is built).
        if type(exc).__name__ in ("MsalServiceError", "MsalError"):
            raise ServiceUnavailableError(f"Microsoft sign-in failed: {exc}",
                                          path=path) from exc
        raise


def auth_error(result: dict[str, Any]) -> EdgesyncError:
    """The error for a failed MSAL token acquisition (its error dict)."""
    error = result.get("error", "")
    description = result.get("error_description", "")
    if error in ("invalid_grant", "interaction_required", "invalid_client"):
        return AuthError(f"Microsoft refused the sign-in ({error}: {description[:160]}); "
                         + RELINK)
    return ServiceUnavailableError(f"Microsoft sign-in failed ({error}: {description[:160]})")

