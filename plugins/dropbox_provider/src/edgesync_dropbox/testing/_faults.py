"""Fault injection: rules that replace or wrap the emulator's normal handling.

A :class:`Rule` says *which* request (route, host, the nth match from now, how
many times); an :class:`Action` says *what happens* to it. Actions see the
request through a small context (:class:`FaultContext`) whose ``process()``
runs the emulator's normal handling, so "process, then lose the response" and
"corrupt the bytes, then verify" are two-line actions.
"""

from __future__ import annotations

import json as _json
import time
from typing import Any, Protocol

from edgesync.testing.emulation import Action, FaultTable, Rule
from edgesync_dropbox.testing._wire import Reply, api_error, auth_error, json_reply, tag


class FaultContext(Protocol):
    """What an action sees of the request it handles."""

    #: The route, ``"files/upload"`` or ``"oauth2/token"``.
    route: str

    @property
    def arg(self) -> Any:
        """The decoded route argument, or None when it cannot be decoded."""

    def process(self, *, corrupt: bool = False) -> Reply:
        """Run the emulator's normal handling (effects included) and return its reply."""


class _Respond(Action):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None,
                 content_type: str | None) -> None:
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.content_type = content_type

    def run(self, ctx: FaultContext) -> Reply:
        body, inferred = _encode_body(self.body)
        content_type = self.content_type if self.content_type is not None else inferred
        headers = [(k, str(v)) for k, v in self.headers.items()]
        if content_type is not None:
            headers.insert(0, ("Content-Type", content_type))
        return Reply(self.status, headers, body)


def _encode_body(body: Any) -> tuple[bytes, str | None]:
    if body is None:
        return b"", None
    if isinstance(body, bytes):
        return body, "application/octet-stream"
    if isinstance(body, str):
        return body.encode("utf-8"), "text/plain; charset=utf-8"
    return _json.dumps(body).encode("ascii"), "application/json"


class _ProcessThen(Action):
    def __init__(self, then: Action) -> None:
        self.then = then

    def run(self, ctx: FaultContext) -> Reply:
        reply = ctx.process()
        return self.then.run(_Processed(ctx, reply))

    def check(self, route: str) -> None:
        self.then.check(route)


class _Processed:
    """A context whose request was already processed: ``process()`` gives that reply."""

    def __init__(self, ctx: FaultContext, reply: Reply) -> None:
        self.route = ctx.route
        self.processed_status = reply.status
        self._ctx = ctx
        self._reply = reply

    @property
    def arg(self) -> Any:
        return self._ctx.arg

    def process(self, *, corrupt: bool = False) -> Reply:
        return self._reply


class _Reset(Action):
    def run(self, ctx: FaultContext) -> Reply:
        # Only after process_then() was the request handled; a bare reset drops it unread.
        return Reply(0, drop=True, processed_status=getattr(ctx, "processed_status", None))


class _Delay(Action):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def run(self, ctx: FaultContext) -> Reply:
        time.sleep(self.seconds)
        return ctx.process()


class _Corrupt(Action):
    def run(self, ctx: FaultContext) -> Reply:
        return ctx.process(corrupt=True)


class _CharsetContentType(Action):
    def run(self, ctx: FaultContext) -> Reply:
        reply = ctx.process()
        if reply.header("Content-Type") == "application/json":
            reply.set_header("Content-Type", "application/json; charset=utf-8")
        return reply


class _TruncateBody(Action):
    def __init__(self, keep: int) -> None:
        self.keep = keep

    def run(self, ctx: FaultContext) -> Reply:
        reply = ctx.process()
        if 200 <= reply.status < 300 and len(reply.body) > self.keep:
            reply.truncate = self.keep
        return reply


#: The route error each write-failure fault becomes, by route.
_WRITE_FAILURE_ROUTES = ("files/upload", "files/upload_session/finish",
                         "files/upload_session/finish_batch_v2", "files/delete_v2")


class _WriteFailure(Action):
    def __init__(self, reason: str) -> None:
        self.reason = reason

    def check(self, route: str) -> None:
        if route not in _WRITE_FAILURE_ROUTES:
            raise ValueError(f"{self.reason} applies to {', '.join(_WRITE_FAILURE_ROUTES)}; "
                             f"not to {route!r}")

    def run(self, ctx: FaultContext) -> Reply:
        write_error = tag(self.reason)
        top_level = self.reason == "too_many_write_operations"
        if ctx.route == "files/upload":
            return api_error(tag("path", reason=write_error, upload_session_id=""))
        if ctx.route == "files/upload_session/finish":
            return api_error(write_error if top_level else tag("path", path=write_error))
        if ctx.route == "files/delete_v2":
            return api_error(write_error if top_level
                             else tag("path_write", path_write=write_error))
        # finish_batch_v2: every entry fails the same way, and the call itself succeeds.
        arg = ctx.arg
        entries = arg.get("entries") if isinstance(arg, dict) else None
        failure = write_error if top_level else tag("path", path=write_error)
        count = len(entries) if isinstance(entries, list) else 0
        return json_reply(200, {"entries": [tag("failure", failure=failure)] * count})


def respond(status: int, body: Any = None, *, headers: dict[str, str] | None = None,
            content_type: str | None = None) -> Action:
    """Answer with this response instead of handling the request (nothing happens).

    :param status: the HTTP status.
    :param body: a dict or list (sent as JSON), a str (text), bytes, or None (empty).
    :param headers: extra response headers.
    :param content_type: the Content-Type; default: ``application/json`` for
        JSON, ``text/plain; charset=utf-8`` for text, ``application/octet-stream``
        for bytes, none for an empty body.
    """
    return _Respond(status, body, headers, content_type)


def process_then(action: Action) -> Action:
    """Handle the request normally (its effect happens), then answer as ``action`` says.

    ``process_then(server_error(503))`` is "a 503 that actually landed";
    ``process_then(reset())`` is :func:`process_then_reset`.
    """
    return _ProcessThen(action)


def process_then_reset() -> Action:
    """Handle the request (its effect happens), then drop the connection
    without a response: the lost response after success."""
    return _ProcessThen(_Reset())


def reset() -> Action:
    """Drop the connection without a response and without handling the request."""
    return _Reset()


#: Another name for :func:`reset` (the name the design notes use).
reset_connection = reset


def delay(seconds: float) -> Action:
    """Sleep ``seconds`` in the server, then handle the request normally.

    :param seconds: how long; keep it short (a client timeout below it makes a
        slow-response test).
    """
    return _Delay(seconds)


def corrupt() -> Action:
    """Flip a byte on the way: of the request body before the server verifies and
    stores it (an upload with a ``content_hash`` fails ``content_hash_mismatch``,
    one without stores the damaged bytes), or of a download's body (its
    ``Dropbox-API-Result`` still carries the true hash). An empty body gains a byte."""
    return _Corrupt()


def truncate_body(keep: int) -> Action:
    """Handle the request, then send the full ``Content-Length`` but only ``keep``
    body bytes and close the connection (a truncated download).

    :param keep: how many body bytes to send.
    """
    return _TruncateBody(keep)


def charset_content_type() -> Action:
    """Handle the request, but label a JSON answer ``application/json; charset=utf-8``.

    The SDK asserts the exact ``application/json`` and raises AssertionError:
    this guards that the emulator never sends a charset by accident.
    """
    return _CharsetContentType()


class _Same:
    def __repr__(self) -> str:
        return "<same as retry_after>"


_SAME: Any = _Same()


def rate_limited(retry_after: int | None = 1, *, header: int | None = _SAME, json: bool = True,
                 reason: str = "too_many_write_operations") -> Action:
    """A 429, as Dropbox sends when throttling.

    :param retry_after: the ``retry_after`` in the JSON body (the SDK sleeps
        that long; without it the SDK uses the stone default, 1 s); None: leave it out.
    :param header: the ``Retry-After`` header; default: the same as
        ``retry_after``; None: no header.
    :param json: a JSON body ``{"error": {"reason": {".tag": reason}, "retry_after"}}``
        (``application/json``); False: a plain-text body (the SDK then reads
        ``Retry-After``).
    :param reason: ``too_many_write_operations`` or ``too_many_requests``.
    """
    if header is _SAME:
        header = retry_after
    headers = {} if header is None else {"Retry-After": str(header)}
    if not json:
        return _Respond(429, reason, headers, "text/plain; charset=utf-8")
    error: dict[str, Any] = {"reason": tag(reason)}
    if retry_after is not None:
        error["retry_after"] = retry_after
    return _Respond(429, {"error_summary": f"{reason}/..", "error": error}, headers,
                    "application/json")


def server_error(status: int = 500) -> Action:
    """A 5xx with a plain-text body (the SDK raises InternalServerError).

    :param status: 500, 502, 503, 504, ...
    """
    return _Respond(status, f"Error {status}: the emulator was told to fail this request.",
                    None, "text/plain; charset=utf-8")


def expired_token() -> Action:
    """401 ``expired_access_token`` (the SDK refreshes once and retries)."""
    return _AuthFailure("expired_access_token")


class _AuthFailure(Action):
    def __init__(self, reason: str) -> None:
        self.reason = reason

    def run(self, ctx: FaultContext) -> Reply:
        return auth_error(self.reason)


def insufficient_space() -> Action:
    """The route's ``insufficient_space`` write error (upload, finish,
    finish_batch_v2 entries, delete_v2); nothing is written."""
    return _WriteFailure("insufficient_space")


def too_many_write_operations() -> Action:
    """409 ``too_many_write_operations`` in the route's error union (namespace
    lock contention); nothing is written."""
    return _WriteFailure("too_many_write_operations")


__all__ = [
    "Action", "FaultContext", "FaultTable", "Rule", "charset_content_type", "corrupt", "delay",
    "expired_token", "insufficient_space", "process_then", "process_then_reset", "rate_limited",
    "reset", "reset_connection", "respond", "server_error", "too_many_write_operations",
    "truncate_body",
]
