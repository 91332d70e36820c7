"""Wire details of Microsoft Graph and Entra ID that the emulator must get exactly right.

Everything here is pure: the hosts, QuickXorHash, time stamps, error bodies and
the :class:`Reply` the HTTP handler writes. The emulator computes hashes itself
instead of trusting the client's (the plugin has its own QuickXorHash; this one
is deliberately separate).
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from edgesync.testing.emulation import Reply as BaseReply

#: The hosts the emulator serves, by the short name fault rules and routing use.
HOSTS = {
    "login": "login.microsoftonline.com",
    "graph": "graph.microsoft.com",
    "upload": "upload.onedrive.test",
    "download": "dl.onedrive.test",
}
HOST_KINDS = {name: kind for kind, name in HOSTS.items()}

#: The ``WWW-Authenticate`` header Graph sends with a 401 (captured from the real
#: service, see providers.md B.1).
WWW_AUTHENTICATE = ('Bearer realm="", authorization_uri="https://login.microsoftonline.com/'
                    'common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"')

#: Graph's Content-Type for JSON answers (errors use plain ``application/json``).
GRAPH_JSON = ("application/json;odata.metadata=minimal;odata.streaming=true;"
              "IEEE754Compatible=false;charset=utf-8")
#: Entra ID's Content-Type for JSON answers.
LOGIN_JSON = "application/json; charset=utf-8"

_QXH_WIDTH = 160
_QXH_MASK = (1 << _QXH_WIDTH) - 1
_QXH_BLOCK_BITS = 160 * 8
_QXH_CHUNK = 160 * 65536  # bytes turned into one big integer at a time


def _fold(value: int, blocks: int) -> int:
    """XOR together the ``blocks`` 160-byte blocks of ``value`` (halving each round)."""
    while blocks > 1:
        keep = (blocks + 1) // 2
        shift = keep * _QXH_BLOCK_BITS
        value = (value & ((1 << shift) - 1)) ^ (value >> shift)
        blocks = keep
    return value


def quick_xor_hash(data: bytes | bytearray | memoryview) -> str:
    """OneDrive's ``quickXorHash`` of ``data``, base64 as Graph reports it.

    The algorithm (OneDrive/onedrive-api-docs ``docs/code-snippets/quickxorhash.md``):
    a 160-bit state; byte *i* is XORed in at bit offset ``(11 * i) mod 160``,
    wrapping around; the state is serialised little-endian into 20 bytes and
    the length, as a 64-bit little-endian integer, is XORed into bytes 12..19.
    Bytes whose indexes agree modulo 160 share a bit offset, so the content is
    first XOR-folded 160 bytes at a time with big integers (about 0.2 s per
    100 MB here).

    :param data: the whole content.
    :returns: 28 base64 characters; ``b"hello world"`` gives
        ``"aCgDG9jwBhDc4Q1yawMZAAAAAAA="``, the empty input
        ``"AAAAAAAAAAAAAAAAAAAAAAAAAAA="``.
    """
    view = memoryview(data).cast("B")
    size = len(view)
    whole = size - size % 160
    folded = 0
    for start in range(0, whole, _QXH_CHUNK):
        end = min(start + _QXH_CHUNK, whole)
        folded ^= _fold(int.from_bytes(view[start:end], "little"), (end - start) // 160)
    folded ^= int.from_bytes(view[whole:], "little")
    state = 0
    for index, byte in enumerate(folded.to_bytes(160, "little")):
        if byte:
            placed = byte << (11 * index) % _QXH_WIDTH
            state ^= (placed & _QXH_MASK) ^ (placed >> _QXH_WIDTH)
    state ^= (size & 0xFFFF_FFFF_FFFF_FFFF) << 96
    return base64.b64encode(state.to_bytes(20, "little")).decode("ascii")


def now_stamp() -> str:
    """The current UTC time as Graph writes it: ``2026-05-09T07:35:25.123Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def stamp_after(seconds: float) -> str:
    """The UTC time ``seconds`` from now, as Graph writes it."""
    moment = datetime.fromtimestamp(datetime.now(UTC).timestamp() + seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def b64url(data: bytes) -> str:
    """Base64url without padding (JWT parts, ``client_info``)."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


@dataclass
class Reply(BaseReply):
    """A :class:`edgesync.testing.emulation.Reply` that may carry a Graph error to finish.

    :ivar graph_error: a Graph error body still to be completed: the handler fills
        ``innerError`` with the request's ids and date, then encodes it as ``body``.
    """

    graph_error: dict[str, Any] | None = None

    def finish(self, request_id: str, client_request_id: str) -> None:
        """Complete a pending Graph error body with the request's ids and encode it."""
        if self.graph_error is None:
            return
        error = self.graph_error.setdefault("error", {})
        inner = error.setdefault("innerError", {})
        inner.setdefault("date", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"))
        inner.setdefault("request-id", request_id)
        inner.setdefault("client-request-id", client_request_id)
        self.body = json.dumps(self.graph_error).encode("utf-8")
        self.graph_error = None


def json_reply(status: int, value: Any, *, content_type: str = GRAPH_JSON) -> Reply:
    """A JSON reply (Graph's OData Content-Type unless told otherwise)."""
    return Reply(status, [("Content-Type", content_type)], json.dumps(value).encode("utf-8"))


def graph_error(status: int, code: str, message: str, *, inner: str | None = None,
                headers: list[tuple[str, str]] | None = None) -> Reply:
    """A Graph error: ``{"error": {"code", "message", "innerError": {...}}}``.

    :param status: the HTTP status.
    :param code: the top-level code (``itemNotFound``, ``resourceModified``, ...).
    :param message: the human-readable message.
    :param inner: the ``innerError.code`` (``fragmentOverlap``, ...); None: no inner code.
    :param headers: extra response headers.
    """
    inner_error: dict[str, Any] = {} if inner is None else {"code": inner}
    return Reply(status, [("Content-Type", "application/json"), *(headers or [])],
                 graph_error={"error": {"code": code, "message": message,
                                        "innerError": inner_error}})


def unauthenticated(message: str, *, expired: bool = False) -> Reply:
    """A Graph 401 ``InvalidAuthenticationToken`` with the ``WWW-Authenticate`` header.

    :param message: the error message.
    :param expired: add ``error="expired_token"`` to the header, as the personal
        service does for an expired token (rclone retries on it).
    """
    challenge = WWW_AUTHENTICATE + (', error="expired_token"' if expired else "")
    return graph_error(401, "InvalidAuthenticationToken", message,
                       headers=[("WWW-Authenticate", challenge)])


def oauth_error(error: str, description: str, codes: list[int], *, status: int = 400,
                suberror: str | None = None) -> Reply:
    """An Entra ID token-endpoint error body (``error``, ``error_description``,
    ``error_codes``, ``timestamp``, ``trace_id``, ``correlation_id``, ``error_uri``)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    body: dict[str, Any] = {
        "error": error,
        "error_description": f"{description}\r\nTrace ID: {trace}"
                             f"\r\nCorrelation ID: {correlation}\r\nTimestamp: {stamp}",
        "error_codes": codes,
        "timestamp": stamp,
        "trace_id": trace,
        "correlation_id": correlation,
    }
    if codes:
        body["error_uri"] = f"https://login.microsoftonline.com/error?code={codes[0]}"
    if suberror is not None:
        body["suberror"] = suberror
    return json_reply(status, body, content_type=LOGIN_JSON)


def invalid_grant_reply() -> Reply:
    """``400 invalid_grant`` AADSTS700082 (``suberror: bad_token``): the refresh
    token is expired, revoked, already used or unknown; the user must sign in again."""
    return oauth_error(
        "invalid_grant",
        "AADSTS700082: The refresh token has expired due to inactivity. The token was "
        "issued on a date in the past and was inactive for 90.00:00:00.",
        [700082], suberror="bad_token")


class GraphFailure(Exception):
    """A Graph error answer, raised deep in a handler and turned into its reply."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def fail(status: int, code: str, message: str, *, inner: str | None = None) -> GraphFailure:
    """A :class:`GraphFailure` for :func:`graph_error` (``raise fail(...)``)."""
    return GraphFailure(graph_error(status, code, message, inner=inner))
