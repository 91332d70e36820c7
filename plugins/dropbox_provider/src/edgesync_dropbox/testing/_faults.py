"""Fault injection: rules that replace or wrap the emulator's normal handling.

A :class:`Rule` says *which* request (route, host, the nth match from now, how
many times); an :class:`Action` says *what happens* to it. Actions see the
request through a small context (:class:`FaultContext`) whose ``process()``
runs the emulator's normal handling, so "process, then lose the response" and
"corrupt the bytes, then verify" are two-line actions.
"""

from __future__ import annotations

from typing import Any, Protocol

from edgesync.testing.emulation import (
    Action,
    FaultTable,
    Rule,
    delay,
    process_then,
    process_then_reset,
    reset,
    reset_connection,
    respond,
    truncate_body,
)
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


class _Corrupt(Action):
    def run(self, ctx: FaultContext) -> Reply:
        return ctx.process(corrupt=True)


class _CharsetContentType(Action):
    def run(self, ctx: FaultContext) -> Reply:
        reply = ctx.process()
        if reply.header("Content-Type") == "application/json":
            reply.set_header("Content-Type", "application/json; charset=utf-8")
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


def corrupt() -> Action:
    """Flip a byte on the way: of the request body before the server verifies and
    stores it (an upload with a ``content_hash`` fails ``content_hash_mismatch``,
    one without stores the damaged bytes), or of a download's body (its
    ``Dropbox-API-Result`` still carries the true hash). An empty body gains a byte."""
    return _Corrupt()


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
        return respond(429, reason, headers=headers, content_type="text/plain; charset=utf-8")
    error: dict[str, Any] = {"reason": tag(reason)}
    if retry_after is not None:
        error["retry_after"] = retry_after
    return respond(429, {"error_summary": f"{reason}/..", "error": error}, headers=headers,
                   content_type="application/json")


def server_error(status: int = 500) -> Action:
    """A 5xx with a plain-text body (the SDK raises InternalServerError).

    :param status: 500, 502, 503, 504, ...
    """
    return respond(status, f"Error {status}: the emulator was told to fail this request.",
                   content_type="text/plain; charset=utf-8")


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
