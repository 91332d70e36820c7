"""Fault injection: rules that replace or wrap the emulator's normal handling.

A :class:`Rule` says *which* request (route, host, the nth match from now, how
many times); an :class:`Action` says *what happens* to it. Actions see the
request through a small context (:class:`FaultContext`) whose ``process()``
runs the emulator's normal handling, so "store the fragment, then lose the
response" is a two-line action.
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
from edgesync_onedrive.testing._wire import (
    Reply,
    graph_error,
    invalid_grant_reply,
    oauth_error,
    unauthenticated,
)

#: Routes by host kind (see ``ROUTES`` in the package for what each one is).
LOGIN_ROUTES = ("openidConfiguration", "instanceDiscovery", "devicecode", "token")
GRAPH_ROUTES = ("drive", "item", "children", "content", "getContent", "createUploadSession",
                "delete")
UPLOAD_ROUTES = ("fragment", "uploadStatus", "cancelUpload", "commit")
DOWNLOAD_ROUTES = ("download",)
_WRITE_ROUTES = ("content", "createUploadSession", "fragment", "commit")


class FaultContext(Protocol):
    """What an action sees of the request it handles."""

    #: The route, ``"fragment"`` or ``"token"`` (see ``ROUTES``).
    route: str
    #: The host kind: ``"login"``, ``"graph"``, ``"upload"``, ``"download"``, or None.
    host: str | None

    def process(self, *, partial: int | None = None) -> Reply:
        """Run the emulator's normal handling (effects included) and return its reply.

        :param partial: for a fragment, store only its first ``partial`` bytes.
        """

    def drop_upload_session(self) -> None:
        """Forget the upload session the request names (if any)."""


def _only(route: str, allowed: tuple[str, ...], what: str) -> None:
    if route not in allowed:
        raise ValueError(f"{what} applies to {', '.join(allowed)}; not to {route!r}")


class _PartialAccept(Action):
    def __init__(self, n_bytes: int) -> None:
        if n_bytes < 0:
            raise ValueError("partial_accept takes a byte count >= 0")
        self.n_bytes = n_bytes

    def check(self, route: str) -> None:
        _only(route, ("fragment",), "partial_accept()")

    def run(self, ctx: FaultContext) -> Reply:
        return ctx.process(partial=self.n_bytes)


class _Throttled(Action):
    def __init__(self, status: int, retry_after: int | None, code: str) -> None:
        self.status = status
        self.retry_after = retry_after
        self.code = code

    def run(self, ctx: FaultContext) -> Reply:
        headers = [] if self.retry_after is None else [("Retry-After", str(self.retry_after))]
        if ctx.host == "login":
            reply = oauth_error("temporarily_unavailable",
                                "AADSTS50196: The server terminated an operation because it "
                                "encountered a client request loop.", [50196],
                                status=self.status)
            reply.headers.extend(headers)
            return reply
        return graph_error(self.status, self.code, "Please retry again later.",
                           inner=str(self.status), headers=headers)


class _ServerError(Action):
    def __init__(self, status: int, retry_after: int | None) -> None:
        self.status = status
        self.retry_after = retry_after

    def run(self, ctx: FaultContext) -> Reply:
        headers = [] if self.retry_after is None else [("Retry-After", str(self.retry_after))]
        if ctx.host == "login":
            reply = oauth_error("server_error", "AADSTS90033: A transient error has occurred. "
                                "Please try again.", [90033], status=self.status)
            reply.headers.extend(headers)
            return reply
        code = "serviceNotAvailable" if self.status == 503 else "generalException"
        return graph_error(self.status, code,
                           f"The emulator was told to fail this request with {self.status}.",
                           headers=headers)


class _GraphAnswer(Action):
    """A fixed Graph error, checked against the routes it makes sense on."""

    def __init__(self, name: str, routes: tuple[str, ...], status: int, code: str,
                 message: str, inner: str | None = None, *, expired: bool = False,
                 drops_session: bool = False) -> None:
        self._name = name
        self._routes = routes
        self._status = status
        self._code = code
        self._message = message
        self._inner = inner
        self._expired = expired
        self._drops_session = drops_session

    def __repr__(self) -> str:
        return f"{self._name}()"

    def check(self, route: str) -> None:
        _only(route, self._routes, f"{self._name}()")

    def run(self, ctx: FaultContext) -> Reply:
        if self._drops_session:
            ctx.drop_upload_session()
        if self._status == 401:
            return unauthenticated(self._message, expired=self._expired)
        return graph_error(self._status, self._code, self._message, inner=self._inner)


class _TokenAnswer(Action):
    def __init__(self, name: str, reply: Any) -> None:
        self._name = name
        self._reply = reply

    def __repr__(self) -> str:
        return f"{self._name}()"

    def check(self, route: str) -> None:
        _only(route, ("token",), f"{self._name}()")

    def run(self, ctx: FaultContext) -> Reply:
        return self._reply()


def partial_accept(n_bytes: int) -> Action:
    """Store only the first ``n_bytes`` of a fragment and answer ``202`` with the
    ``nextExpectedRanges`` that follows (not 320 KiB aligned, in general): the
    server took part of what was sent. Only for the ``"fragment"`` route; a
    final fragment cut short is not committed.

    :param n_bytes: how many bytes of the fragment to keep; the whole fragment
        (normal handling) when it is not shorter.
    """
    return _PartialAccept(n_bytes)


def throttled(status: int = 429, retry_after: int | None = 1,
              code: str = "activityLimitReached") -> Action:
    """Throttling, nothing done: Graph's ``{"error": {"code": code, "innerError":
    {"code": "<status>"}}}`` with ``Retry-After``; on the token endpoint Entra
    ID's ``temporarily_unavailable`` body instead.

    :param status: 429, or 503 as SharePoint also throttles.
    :param retry_after: the ``Retry-After`` header in seconds; None: no header
        (the client must back off on its own).
    :param code: ``activityLimitReached`` or ``TooManyRequests``.
    """
    return _Throttled(status, retry_after, code)


def server_error(status: int = 500, *, retry_after: int | None = None) -> Action:
    """A 5xx, nothing done: Graph ``generalException`` (``serviceNotAvailable``
    for 503); on the token endpoint an Entra ``server_error`` body (MSAL raises
    ``MsalServiceError`` on any 5xx there).

    :param status: 500, 502, 503, 504, 509, ...
    :param retry_after: a ``Retry-After`` header in seconds; None: none.
    """
    return _ServerError(status, retry_after)


def quota_full() -> Action:
    """``507 quotaLimitReached`` on a write (simple upload, createUploadSession,
    a fragment or a commit); nothing is stored. Fatal: clients must not retry."""
    return _GraphAnswer("quota_full", _WRITE_ROUTES, 507, "quotaLimitReached",
                        "Insufficient Space Available")


def expired_token() -> Action:
    """``401 InvalidAuthenticationToken`` "Access token has expired or is not yet
    valid." with ``WWW-Authenticate`` (``error="expired_token"``) on a Graph
    route; nothing is done. The token itself stays valid, so one refresh (or
    even a plain retry) gets through."""
    return _GraphAnswer("expired_token", GRAPH_ROUTES, 401, "InvalidAuthenticationToken",
                        "Access token has expired or is not yet valid.", expired=True)


def rps_error() -> Action:
    """``401 InvalidAuthenticationToken`` "Unable to initialize RPS", the
    transient personal-account failure a client should simply retry."""
    return _GraphAnswer("rps_error", GRAPH_ROUTES, 401, "InvalidAuthenticationToken",
                        "Unable to initialize RPS")


def session_gone() -> Action:
    """The upload session is gone (expired or cancelled elsewhere): it is
    forgotten and the request gets ``404 itemNotFound`` (inner
    ``uploadSessionNotFound``), as every later request on it does. The client
    must start a new session."""
    return _GraphAnswer("session_gone", UPLOAD_ROUTES, 404, "itemNotFound",
                        "The upload session was not found.", "uploadSessionNotFound",
                        drops_session=True)


def etag_changed() -> Action:
    """``412 resourceModified`` on a write or delete, nothing done: the eTag the
    client sent no longer matches. Nothing in the store changes; to have another
    device really change the item use :meth:`OneDriveEmulator.put_file`."""
    return _GraphAnswer("etag_changed", (*_WRITE_ROUTES, "delete"), 412, "resourceModified",
                        "ETag does not match current item's value")


def invalid_grant() -> Action:
    """``400 invalid_grant`` AADSTS700082 (``suberror: bad_token``) from the token
    endpoint; the refresh token is not revoked (use
    :meth:`OneDriveEmulator.revoke_refresh_tokens` for that)."""
    return _TokenAnswer("invalid_grant", invalid_grant_reply)


def slow_down() -> Action:
    """``400 slow_down`` from the token endpoint during the device flow (MSAL
    adds 5 s to the polling interval and polls again)."""
    return _TokenAnswer("slow_down", lambda: oauth_error(
        "slow_down", "AADSTS70016: OAuth 2.0 device flow error. Polling too fast; slow down.",
        [70016]))


def device_expired() -> Action:
    """``400 expired_token`` from the token endpoint during the device flow: the
    device code expired (MSAL stops polling and returns the error)."""
    return _TokenAnswer("device_expired", lambda: oauth_error(
        "expired_token", "AADSTS70020: The provided value for the input parameter "
        "'device_code' is not valid. This device code has expired.", [70020]))


__all__ = [
    "DOWNLOAD_ROUTES", "GRAPH_ROUTES", "LOGIN_ROUTES", "UPLOAD_ROUTES",
    "Action", "FaultContext", "FaultTable", "Rule", "delay", "device_expired", "etag_changed",
    "expired_token", "invalid_grant", "partial_accept", "process_then", "process_then_reset",
    "quota_full", "reset", "reset_connection", "respond", "rps_error", "server_error",
    "session_gone", "slow_down", "throttled", "truncate_body",
]
