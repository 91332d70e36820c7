"""Wire details of Dropbox API v2 that the emulator must get exactly right.

Everything here is pure: the content hash, JSON for HTTP headers, error bodies
and the ``Reply`` the HTTP handler writes. The emulator computes hashes itself
instead of trusting the client's.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from edgesync.testing.emulation import Reply

#: The block size of the Dropbox content hash (4 MiB).
BLOCK_SIZE = 4 * 1024 * 1024

#: The hosts the SDK talks to, by the short name the emulator routes on.
HOSTS = {
    "api": "api.dropboxapi.com",
    "content": "content.dropboxapi.com",
    "notify": "notify.dropboxapi.com",
    "www": "www.dropbox.com",
}
HOST_KINDS = {name: kind for kind, name in HOSTS.items()}


def content_hash(data: bytes) -> str:
    """The Dropbox ``content_hash`` of ``data``.

    SHA-256 of each 4 MiB block, the raw digests concatenated, SHA-256 of that,
    as lowercase hex (https://www.dropbox.com/developers/reference/content-hash).
    The empty input hashes to ``sha256(b"")``.

    :param data: the whole content.
    :returns: 64 lowercase hex digits.
    """
    overall = hashlib.sha256()
    view = memoryview(data)
    for start in range(0, len(view), BLOCK_SIZE):
        overall.update(hashlib.sha256(view[start:start + BLOCK_SIZE]).digest())
    return overall.hexdigest()


def header_json(value: Any) -> str:
    """JSON that is safe in an HTTP header: ASCII only, 0x7F escaped too.

    requests decodes response headers as latin-1, so anything but ASCII would
    arrive mangled; Dropbox escapes the same way.
    """
    return json.dumps(value, ensure_ascii=True).replace("\x7f", "\\u007f")


def error_summary(error: dict[str, Any]) -> str:
    """Dropbox's ``error_summary`` for an error union: the tag path, ``"path/conflict/file/.."``."""
    parts: list[str] = []
    node: Any = error
    while isinstance(node, dict) and isinstance(node.get(".tag"), str):
        tag = node[".tag"]
        parts.append(tag)
        nested = node.get(tag)
        if not isinstance(nested, dict):
            nested = node.get("reason")  # UploadWriteFailed carries its WriteError as "reason"
        node = nested
    return "/".join(parts) + "/.."


def json_reply(status: int, value: Any, *, content_type: str = "application/json") -> Reply:
    """A JSON reply; the Content-Type is exactly ``application/json`` (the SDK asserts it)."""
    return Reply(status, [("Content-Type", content_type)], json.dumps(value).encode("ascii"))


def text_reply(status: int, text: str) -> Reply:
    """A plain-text reply, as Dropbox sends for 400s and most 5xx."""
    return Reply(status, [("Content-Type", "text/plain; charset=utf-8")], text.encode("utf-8"))


def api_error(error: dict[str, Any], *, status: int = 409) -> Reply:
    """A route error: ``{"error_summary", "error"}`` with the route's error union."""
    return json_reply(status, {"error_summary": error_summary(error), "error": error})


def auth_error(tag: str) -> Reply:
    """A 401 with an ``AuthError`` union (``expired_access_token``, ``invalid_access_token``)."""
    return json_reply(401, {"error_summary": f"{tag}/", "error": {".tag": tag}})


class BadInput(Exception):
    """A request Dropbox would refuse with ``400 text/plain`` (bad argument, header, route)."""


class RouteError(Exception):
    """A route error (409 unless said otherwise) carrying the route's error union."""

    def __init__(self, error: dict[str, Any], status: int = 409) -> None:
        super().__init__(error_summary(error))
        self.error = error
        self.status = status


class WriteFailure(Exception):
    """A ``WriteError`` union; each route wraps it in its own error union."""

    def __init__(self, write_error: dict[str, Any]) -> None:
        super().__init__(error_summary(write_error))
        self.write_error = write_error


def tag(name: str, /, **fields: Any) -> dict[str, Any]:
    """A union value ``{".tag": name, **fields}``."""
    return {".tag": name, **fields}
