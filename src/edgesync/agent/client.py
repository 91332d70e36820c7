"""The device's HTTP client of one edge: pinned TLS, timeouts, bounded retries, clear errors.

Every error the edge reports comes back as the :mod:`edgesync.errors` class
of its wire ``code`` (``base_mismatch`` is a
:class:`~edgesync.errors.BaseMismatchError`, with the edge's current version
in ``.current``). A refused connection, a timeout or a 5xx answer is retried
with backoff a few times and then raised as
:class:`~edgesync.errors.EdgeUnreachableError`; a certificate other than the
pinned one is a :class:`~edgesync.errors.CertificateMismatchError` at once.
"""

from __future__ import annotations

import random
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from edgesync import errors
from edgesync.errors import (
    CertificateMismatchError,
    EdgesyncError,
    EdgeUnreachableError,
    WireFormatError,
)
from edgesync.tls import pinned_session

__all__ = ["DELTA_TYPE", "EdgeClient", "error_from_json"]

#: The media type of a delta body.
DELTA_TYPE = "application/vnd.edgesync.delta"

_BY_CODE: dict[str, type[EdgesyncError]] = {
    cls.code: cls for cls in (getattr(errors, name) for name in errors.__all__)}
_FIELDS = {"expected", "actual", "limit", "path", "current", "retry_after"}


def error_from_json(data: Any, status: int) -> EdgesyncError:
    """The exception for an error body of the edge (``{"code", "message", ...}``).

    :param data: the parsed JSON body (anything: a bad body gives a generic error).
    :param status: the HTTP status, for the message of an unknown code.
    :returns: an instance of the class registered for the code, with its fields
        set; :class:`EdgesyncError` for codes this version does not know.
    """
    if not isinstance(data, dict) or not isinstance(data.get("code"), str):
        return EdgesyncError(f"the edge answered HTTP {status} without an error description")
    cls = _BY_CODE.get(data["code"], EdgesyncError)
    message = str(data.get("message") or data["code"])
    error = cls(message)
    for name in _FIELDS & set(data) - {"current"}:
        if hasattr(error, name):
            setattr(error, name, data[name])
    error.current = data.get("current")  # type: ignore[attr-defined]
    error.http_status = status  # type: ignore[attr-defined]
    return error


class _Progress:
    """A request body that reports how much of it has been read."""

    def __init__(self, data: bytes, report: Callable[[int, int], None]) -> None:
        self._data, self._report, self._offset = data, report, 0

    def __len__(self) -> int:
        return len(self._data)

    def read(self, size: int = -1) -> bytes:
        size = len(self._data) if size < 0 else size
        chunk = self._data[self._offset:self._offset + size]
        self._offset += len(chunk)
        self._report(self._offset, len(self._data))
        return chunk


class EdgeClient:
    """Talks to one edge for one user.

    :param url: the edge's base URL (``https://edge.home.arpa:8443``).
    :param token: the user's bearer token.
    :param fingerprint: the pinned SHA-256 fingerprint of the edge's
        certificate; ``None`` only for a plain-HTTP edge.
    :param timeout: seconds to wait for the edge to answer (and to connect).
    :param retries: extra tries after a connection failure or a 5xx answer.
    :param sleep: how to wait between tries (tests pass a fake).
    """

    def __init__(self, url: str, token: str, *, fingerprint: str | None,
                 timeout: float = 30.0, retries: int = 3,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.url = url.rstrip("/")
        self.timeout, self.retries, self._sleep = timeout, retries, sleep
        self.fingerprint = fingerprint
        self.session = pinned_session(fingerprint)
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.session.headers["User-Agent"] = "edgesync-agent"

    def _url(self, kind: str, path: str = "") -> str:
        quoted = urllib.parse.quote(path, safe="/")
        return f"{self.url}/v1/{kind}/{quoted}" if path else f"{self.url}/v1/{kind}"

    def request(self, method: str, url: str, *, data: Any = None,
                headers: dict[str, str] | None = None, expect_json: bool = True,
                ok: tuple[int, ...] = (200, 202)) -> Any:
        """Send one request, with the retry policy; return parsed JSON (or the response).

        :raises EdgeUnreachableError: no answer, or 5xx, after the retries.
        :raises CertificateMismatchError: the edge's certificate is not the pinned one.
        :raises EdgesyncError: the edge refused (the class of its error code).
        """
        import requests

        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(min(8.0, 0.5 * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2))
            if hasattr(data, "_offset"):
                data._offset = 0  # a retried body starts again
            try:
                response = self.session.request(method, url, data=data, headers=headers,
                                                timeout=self.timeout)
            except requests.exceptions.SSLError as exc:
                if "fingerprint" in str(exc).lower():
                    raise CertificateMismatchError(
                        f"the edge at {self.url} presented another certificate than the one "
                        "pinned when this device was paired. If the edge was set up again, "
                        "pair again: 'edgesync pair URL --fingerprint NEW' with the "
                        "fingerprint the edge prints; otherwise something is impersonating "
                        "the edge, and nothing was sent") from exc
                last = exc
                continue
            except requests.exceptions.RequestException as exc:
                last = exc
                continue
            if response.status_code in (502, 503, 504):
                last = error_from_json(_json(response), response.status_code)
                continue
            if response.status_code not in ok:
                raise error_from_json(_json(response), response.status_code)
            if not expect_json:
                return response
            body = _json(response)
            if body is None:
                raise WireFormatError(f"the edge at {self.url} answered with something "
                                      "other than JSON; is this URL an edgesync edge?")
            return body
        raise EdgeUnreachableError(f"cannot reach the edge at {self.url}: {_reason(last)}")

    # --- the API -----------------------------------------------------------------

    def version(self) -> dict[str, Any]:
        """``GET /v1/version`` (no token needed)."""
        return self.request("GET", f"{self.url}/v1/version")

    def files(self) -> list[dict[str, Any]]:
        """Every file the edge holds for this user (``GET /v1/files``)."""
        return self.request("GET", self._url("files"))["files"]

    def meta(self, path: str) -> dict[str, Any]:
        """The edge's record of ``path``.

        :raises NotFoundError: the edge holds no version of it.
        """
        return self.request("GET", self._url("meta", path))

    def put(self, path: str, content: bytes, *, sha256: str, base: str | None = None,
            gzip_level: int | None = None,
            progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Upload a whole file; return the edge's record with ``received``.

        :param sha256: the content's SHA-256 (the edge checks it).
        :param base: the SHA-256 of the version the edit started from, if known.
        :param gzip_level: compress the body with gzip at this level, when that
            makes it smaller.
        :param progress: called with (bytes sent, total) as the body goes out.
        """
        import gzip

        headers = {"Content-Type": "application/octet-stream", "X-Edgesync-Sha256": sha256}
        if base:
            headers["X-Edgesync-Base"] = base
        body = content
        if gzip_level is not None:
            packed = gzip.compress(content, gzip_level, mtime=0)
            if len(packed) < len(content):
                body = packed
                headers["Content-Encoding"] = "gzip"
        data: Any = _Progress(body, progress) if progress else body
        return self.request("PUT", self._url("files", path), data=data, headers=headers)

    def patch(self, path: str, delta: bytes, *,
              progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Upload a delta against the edge's version; return the edge's record.

        :raises BaseMismatchError: the edge holds another version (``.current``).
        """
        data: Any = _Progress(delta, progress) if progress else delta
        return self.request("PATCH", self._url("files", path), data=data,
                            headers={"Content-Type": DELTA_TYPE})

    def download(self, path: str) -> bytes:
        """The edge's current version of ``path`` (fetched from the cloud if needed)."""
        return self.request("GET", self._url("files", path), expect_json=False).content

    def delete(self, path: str, *, sha256: str | None = None) -> dict[str, Any]:
        """Delete ``path`` at the edge and in the cloud (only version ``sha256``, if given)."""
        headers = {"If-Match": f'"{sha256}"'} if sha256 else None
        return self.request("DELETE", self._url("files", path), headers=headers)


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _reason(error: Exception | None) -> str:
    if isinstance(error, EdgesyncError):
        return error.message
    text = str(error)
    for marker in ("Connection refused", "timed out", "Name or service not known",
                   "No route to host", "Network is unreachable"):
        if marker in text:
            return marker.lower()
    return text[:200] or "no answer"
