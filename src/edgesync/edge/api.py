"""HTTP API v1 of the edge, as a WSGI application (the contract is ``docs/edge-api.md``).

This module turns requests into :class:`~edgesync.edge.service.EdgeService`
calls and errors into JSON: ``{"code": ..., "message": ...}`` with the status
of :data:`STATUS`. It writes one JSON access-log line per request (never a
token) and counts every request in the edge's metrics.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from typing import Any, BinaryIO

from edgesync import __version__
from edgesync.edge.service import EdgeService, SaveResult
from edgesync.edge.store import FileRecord, UploadState
from edgesync.edge.tokens import TokenStore
from edgesync.errors import (
    BaseMismatchError,
    ConfigError,
    CorruptDeltaError,
    EdgesyncError,
    InvalidPathError,
    LimitExceededError,
    NotFoundError,
    ProviderError,
    RevisionConflictError,
    UnauthorizedError,
    WireFormatError,
)

__all__ = ["API_VERSION", "DELTA_TYPE", "EdgeApp", "STATUS"]

#: The API version in every path (``/v1/...``).
API_VERSION = 1
#: The media type of an edgesync delta body.
DELTA_TYPE = "application/vnd.edgesync.delta"

#: HTTP status of each error class (the most specific class listed wins).
STATUS: dict[type[EdgesyncError], int] = {
    UnauthorizedError: 401,
    InvalidPathError: 400,
    WireFormatError: 400,
    CorruptDeltaError: 422,
    BaseMismatchError: 409,
    RevisionConflictError: 409,
    LimitExceededError: 413,
    NotFoundError: 404,
    ConfigError: 500,
}

_REASONS = {200: "OK", 202: "Accepted", 304: "Not Modified", 400: "Bad Request",
            401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
            409: "Conflict", 413: "Content Too Large", 422: "Unprocessable Content",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
_CHUNK = 1 << 16

access_log = logging.getLogger("edgesync.edge.access")
log = logging.getLogger("edgesync.edge")


class _HTTPError(Exception):
    """A protocol error that has no class in :mod:`edgesync.errors` (405, unknown route)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _status_of(error: EdgesyncError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    if isinstance(error, ProviderError):
        return 503 if error.retryable else 502
    return 400


class _Exchange:
    """One request's details, gathered for the response, the log and the metrics."""

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ
        self.method = environ.get("REQUEST_METHOD", "GET")
        self.user = ""
        self.path = ""
        self.received = 0
        self.saved = 0
        self.fields: dict[str, Any] = {}

    def header(self, name: str) -> str | None:
        key = "HTTP_" + name.upper().replace("-", "_")
        if name.lower() == "content-type":
            key = "CONTENT_TYPE"
        return self.environ.get(key)


def _json(status: int, data: Any, headers: Iterable[tuple[str, str]] = ()) -> tuple:
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    return status, [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                    *headers], [body]


def _etag(sha256: str) -> str:
    return f'"{sha256}"'


def _unquote_etag(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"').lower()


def record_json(record: FileRecord) -> dict[str, Any]:
    """The JSON form of a file's record, as the API returns it."""
    return {
        "path": record.path,
        "sha256": record.sha256,
        "size": record.size,
        "upload": {
            "state": record.state,
            "revision": record.cloud_revision,
            "conflict_path": record.conflict_path,
            "error": record.error,
        },
        "updated": datetime.fromtimestamp(record.updated, timezone.utc).isoformat(),
    }


class EdgeApp:
    """The WSGI application of one edge.

    :param service: does the work.
    :param tokens: authenticates requests.
    """

    def __init__(self, service: EdgeService, tokens: TokenStore) -> None:
        self.service = service
        self.tokens = tokens
        self.config = service.config

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        exchange = _Exchange(environ)
        outcome = "ok"
        try:
            status, headers, body = self._route(exchange)
        except EdgesyncError as exc:
            outcome = exc.code
            data = exc.to_dict()
            if isinstance(exc, BaseMismatchError):
                data["current"] = self._current(exchange)
            status, headers, body = _json(_status_of(exc), data, (
                [("WWW-Authenticate", 'Bearer realm="edgesync"')]
                if isinstance(exc, UnauthorizedError) else []))
        except _HTTPError as exc:
            outcome = exc.code
            status, headers, body = _json(exc.status, {"code": exc.code,
                                                       "message": exc.message})
        except Exception:
            log.exception("request %s %s failed", exchange.method, environ.get("PATH_INFO"))
            outcome = "internal_error"
            status, headers, body = _json(500, {
                "code": "internal_error",
                "message": "the edge failed unexpectedly; its log has the details"})
        if outcome != "ok" and status != 413:
            _drain(environ)
        self.service.metrics.request(outcome, received=exchange.received, saved=exchange.saved)
        if access_log.isEnabledFor(logging.INFO):
            line = {"ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                    "user": exchange.user, "method": exchange.method,
                    "path": exchange.path or environ.get("PATH_INFO", ""), "status": status,
                    "outcome": outcome, "bytes_in": exchange.received, **exchange.fields,
                    "ms": round((time.perf_counter() - started) * 1000, 1)}
            access_log.info(json.dumps(line, ensure_ascii=False))
        start_response(f"{status} {_REASONS.get(status, 'Unknown')}", headers)
        return body

    # --- routing ---------------------------------------------------------------

    def _route(self, ex: _Exchange) -> tuple:
        raw = ex.environ.get("PATH_INFO", "")
        try:
            path_info = raw.encode("latin-1").decode("utf-8")
        except UnicodeError:
            raise InvalidPathError("the request path is not UTF-8", path="") from None
        if path_info == "/v1/health":
            return self._only(ex, "GET", lambda: _json(200, {"status": "ok"}))
        if path_info == "/v1/version":
            return self._only(ex, "GET", self._version)
        if path_info == "/metrics":
            return self._only(ex, "GET", self._metrics)
        if path_info == "/v1/files":
            return self._only(ex, "GET", lambda: self._list(ex))
        for prefix, handlers in (("/v1/files/", {"GET": self._download, "PUT": self._put,
                                                 "PATCH": self._patch,
                                                 "DELETE": self._delete}),
                                 ("/v1/meta/", {"GET": self._meta})):
            if path_info.startswith(prefix):
                ex.path = path_info[len(prefix):]
                handler = handlers.get(ex.method)
                if handler is None:
                    raise _HTTPError(405, "method_not_allowed",
                                     f"{ex.method} is not allowed here; use "
                                     f"{', '.join(handlers)}")
                self._authenticate(ex)
                return handler(ex)
        raise _HTTPError(404, "no_such_endpoint",
                         f"no endpoint {raw!r}; the API is described in docs/edge-api.md")

    @staticmethod
    def _only(ex: _Exchange, method: str, handler: Callable[[], tuple]) -> tuple:
        if ex.method != method:
            raise _HTTPError(405, "method_not_allowed", f"use {method} here")
        return handler()

    def _authenticate(self, ex: _Exchange) -> None:
        header = ex.header("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise UnauthorizedError("this request needs 'Authorization: Bearer <token>'; "
                                    "create a token on the edge with "
                                    "'edgesync edge token add USER'")
        user = self.tokens.authenticate(token.strip())
        if user is None:
            raise UnauthorizedError("the edge does not know this token (revoked, or made for "
                                    "another edge); pair the device again with a new token")
        self.service.user(user)  # personal mode: refuses a token of another user
        ex.user = user

    def _current(self, ex: _Exchange) -> dict[str, Any] | None:
        if not ex.user or not ex.path:
            return None
        try:
            record = self.service.record(ex.user, ex.path)
        except EdgesyncError:
            return None
        return {"sha256": record.sha256, "size": record.size}

    # --- handlers ----------------------------------------------------------------

    def _version(self) -> tuple:
        return _json(200, {"edgesync": __version__, "api": API_VERSION, "delta_format": 1,
                           "mode": self.config.mode, "provider": self.config.provider})

    def _metrics(self) -> tuple:
        body = self.service.metrics.render().encode("utf-8")
        return 200, [("Content-Type", "text/plain; version=0.0.4; charset=utf-8"),
                     ("Content-Length", str(len(body)))], [body]

    def _list(self, ex: _Exchange) -> tuple:
        self._authenticate(ex)
        return _json(200, {"files": [record_json(r) for r in self.service.records(ex.user)]})

    def _meta(self, ex: _Exchange) -> tuple:
        record = self.service.record(ex.user, ex.path)
        return _json(200, record_json(record), [("ETag", _etag(record.sha256))])

    def _download(self, ex: _Exchange) -> tuple:
        record, stream = self.service.open(ex.user, ex.path)
        headers = [("ETag", _etag(record.sha256)), ("X-Edgesync-Sha256", record.sha256)]
        if _unquote_etag(ex.header("If-None-Match")) == record.sha256:
            stream.close()
            return 304, headers, []
        return 200, [("Content-Type", "application/octet-stream"),
                     ("Content-Length", str(record.size)), *headers], _file_iter(stream)

    def _length(self, ex: _Exchange) -> int | None:
        value = ex.environ.get("CONTENT_LENGTH") or ""
        if not value:
            return None
        if not value.isdigit():
            raise WireFormatError(f"Content-Length {value!r} is not a number")
        return int(value)

    def _precondition(self, ex: _Exchange) -> str | None | bool:
        if_none = ex.header("If-None-Match")
        if if_none is not None:
            if if_none.strip() != "*":
                raise WireFormatError("If-None-Match on a write takes only '*' (create only)")
            return None
        if_match = ex.header("If-Match")
        if if_match is None or if_match.strip() == "*":
            return True
        return _unquote_etag(if_match)

    def _put(self, ex: _Exchange) -> tuple:
        length = self._length(ex)
        body: Any = _Counting(ex, ex.environ["wsgi.input"])
        encoding = (ex.header("Content-Encoding") or "identity").strip().lower()
        if encoding == "gzip":
            body, length = _Gunzip(body), None  # the limit applies to the decoded file
        elif encoding != "identity":
            raise WireFormatError(f"Content-Encoding {encoding!r} is not supported; send the "
                                  "file as it is, or gzip-compressed")
        result = self.service.save_file(
            ex.user, ex.path, body, length,
            sha256=ex.header("X-Edgesync-Sha256"), expect=self._precondition(ex),
            base=_unquote_etag(ex.header("X-Edgesync-Base")))
        return self._saved(ex, result)

    def _patch(self, ex: _Exchange) -> tuple:
        kind = (ex.header("Content-Type") or DELTA_TYPE).split(";")[0].strip().lower()
        if kind not in (DELTA_TYPE, "application/octet-stream"):
            raise WireFormatError(f"a PATCH body must be an edgesync delta ({DELTA_TYPE}), "
                                  f"not {kind}")
        length = self._length(ex)
        limit = self.config.max_delta_size
        if length is not None and length > limit:
            raise LimitExceededError(f"the delta is {length:,} bytes; this edge accepts at "
                                     f"most {limit:,}", limit="max_delta_size")
        body = ex.environ["wsgi.input"].read(length if length is not None else limit + 1)
        ex.received = len(body)
        if length is not None and len(body) != length:
            raise WireFormatError(f"the body ended after {len(body)} of {length} bytes")
        result = self.service.save_delta(ex.user, ex.path, body)
        return self._saved(ex, result)

    def _saved(self, ex: _Exchange, result: SaveResult) -> tuple:
        record = result.record
        received = ex.received  # bytes on the wire (a gzip body decodes to more)
        ex.saved = record.size - received
        ex.fields = {"state": record.state, "size": record.size,
                     "bytes_uploaded": record.size if record.state in (
                         UploadState.UPLOADED, UploadState.CONFLICT) else 0,
                     "apply_ms": round(result.apply_seconds * 1000, 1),
                     "upload_ms": round(result.upload_seconds * 1000, 1)}
        data = {**record_json(record), "exact": result.exact, "received": received,
                "saved": max(0, ex.saved)}
        status = 202 if record.state in (UploadState.PENDING, UploadState.FAILED) else 200
        return _json(status, data, [("ETag", _etag(record.sha256))])

    def _delete(self, ex: _Exchange) -> tuple:
        expect = self._precondition(ex)
        if expect is None:
            raise WireFormatError("If-None-Match makes no sense on DELETE")
        record = self.service.delete(ex.user, ex.path, expect=expect)
        return _json(200, {"path": record.path, "deleted": True})


class _Counting:
    """Wraps the request body to count the bytes read."""

    def __init__(self, ex: _Exchange, stream: BinaryIO) -> None:
        self._ex, self._stream = ex, stream

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._ex.received += len(data)
        return data


class _Gunzip:
    """Decodes a gzip-compressed request body as it is read, a bounded piece at a time."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._decoder = zlib.decompressobj(wbits=31)
        self._done = False

    def read(self, size: int = -1) -> bytes:
        size = size if size > 0 else _CHUNK
        out = b""
        try:
            while len(out) < size and not self._done:
                data = self._decoder.unconsumed_tail or self._raw.read(_CHUNK)
                if not data:
                    raise WireFormatError("the gzip-compressed body ends early")
                out += self._decoder.decompress(data, size - len(out))
                if self._decoder.eof:
                    if self._decoder.unused_data or self._raw.read(1):
                        raise WireFormatError("data follows the end of the gzip stream")
                    self._done = True
        except zlib.error as exc:
            raise WireFormatError(f"the body is not valid gzip: {exc}") from exc
        return out


def _drain(environ: dict[str, Any]) -> None:
    """Read and drop what is left of a refused request's body, a chunk at a time.

    The server would otherwise read the rest in one piece to keep the
    connection usable. (A 413 closes the connection instead, and the server
    refuses bodies far over the limits before the application sees them.)
    """
    stream = environ.get("wsgi.input")
    if stream is None or environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
        return
    try:
        while stream.read(_CHUNK):
            pass
    except Exception:  # the client went away, or the server refused the rest
        log.debug("could not drain a refused request's body", exc_info=True)


def _file_iter(stream: BinaryIO) -> Iterator[bytes]:
    with stream:
        while chunk := stream.read(_CHUNK):
            yield chunk
