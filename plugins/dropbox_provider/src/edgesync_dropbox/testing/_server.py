"""The emulator: state, routes and the loopback HTTP server.

One :class:`DropboxEmulator` holds one Dropbox account (files, implicit
folders, upload sessions), the app's tokens and the fault rules, and serves
them on ``127.0.0.1:<free port>`` with the standard library's threaded HTTP
server, routing by the ``Host`` header. Each request is handled under one
lock, so concurrent clients see a consistent store; only injected delays run
outside it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from edgesync.testing.emulation import Emulator, HTTPRequest, parse_range
from edgesync_dropbox.testing._adapter import PREFIXES
from edgesync_dropbox.testing._wire import (
    HOST_KINDS,
    HOSTS,
    BadInput,
    Reply,
    RouteError,
    WriteFailure,
    api_error,
    auth_error,
    content_hash,
    header_json,
    json_reply,
    tag,
    text_reply,
)

_MiB = 1024 * 1024
_CONCURRENT_ALIGN = 4 * _MiB
_MAX_SESSION_BYTES = 2**41 - 2**22
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_SCOPE = "account_info.read files.content.read files.content.write files.metadata.read"
_MISSING: Any = object()


# --- records --------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class JournalRecord:
    """One request the emulator received, for assertions.

    :ivar method: ``"POST"``, ``"GET"``, ...
    :ivar host: the ``Host`` header without the port (``"content.dropboxapi.com"``).
    :ivar route: ``"files/upload"``, ``"oauth2/token"`` (the path without ``/2/``).
    :ivar headers: the request headers, names lowercased.
    :ivar arg: the decoded argument (``Dropbox-API-Arg``, JSON body, or the
        form of ``/oauth2/token`` as a dict); None when there is none or it is malformed.
    :ivar body_len: the request body's length in bytes.
    :ivar status: the status sent; None when the connection was dropped instead.
    :ivar fault: the injected action that handled it (its repr), or None.
    """

    method: str
    host: str
    route: str
    headers: dict[str, str]
    arg: Any
    body_len: int
    status: int | None
    fault: str | None = None


@dataclass
class _File:
    display: str
    data: bytes
    rev: str
    id: str
    client_modified: str
    server_modified: str
    hash: str

    def metadata(self) -> dict[str, Any]:
        return {
            "name": self.display.rsplit("/", 1)[1], "id": self.id,
            "client_modified": self.client_modified, "server_modified": self.server_modified,
            "rev": self.rev, "size": len(self.data), "path_lower": self.display.lower(),
            "path_display": self.display, "content_hash": self.hash, "is_downloadable": True,
        }


@dataclass
class _Folder:
    display: str
    id: str

    def metadata(self) -> dict[str, Any]:
        return {".tag": "folder", "name": self.display.rsplit("/", 1)[1], "id": self.id,
                "path_lower": self.display.lower(), "path_display": self.display}


@dataclass
class _UploadSession:
    id: str
    concurrent: bool
    created: float
    data: bytearray = field(default_factory=bytearray)
    chunks: dict[int, bytes] = field(default_factory=dict)
    closed: bool = False
    closed_end: int | None = None

    @property
    def size(self) -> int:
        if not self.concurrent:
            return len(self.data)
        return max((offset + len(chunk) for offset, chunk in self.chunks.items()), default=0)


@dataclass
class _AccessToken:
    refresh_token: str | None
    issued: float
    expired: bool = False
    revoked: bool = False


@dataclass(frozen=True)
class _Route:
    host: str
    style: str  # rpc | upload | download
    handler: str
    void: bool = False


_ROUTES = {
    "users/get_current_account": _Route("api", "rpc", "_r_get_current_account", void=True),
    "users/get_space_usage": _Route("api", "rpc", "_r_get_space_usage", void=True),
    "files/get_metadata": _Route("api", "rpc", "_r_get_metadata"),
    "files/delete_v2": _Route("api", "rpc", "_r_delete"),
    "files/upload_session/finish_batch_v2": _Route("api", "rpc", "_r_finish_batch"),
    "files/upload": _Route("content", "upload", "_r_upload"),
    "files/upload_session/start": _Route("content", "upload", "_r_session_start"),
    "files/upload_session/append_v2": _Route("content", "upload", "_r_session_append"),
    "files/upload_session/finish": _Route("content", "upload", "_r_session_finish"),
    "files/download": _Route("content", "download", "_r_download"),
}
_OAUTH_ROUTES = {"oauth2/token": "api", "oauth2/authorize": "www"}

#: Every route a fault rule may name (besides ``"*"``).
ROUTES = frozenset(_ROUTES) | frozenset(_OAUTH_ROUTES)


@dataclass
class _Request:
    method: str
    host: str
    kind: str | None
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


# --- argument decoding ----------------------------------------------------------------------

def _get(arg: dict[str, Any], name: str, kind: type, default: Any = _MISSING) -> Any:
    value = arg.get(name)
    if value is None:
        if default is _MISSING:
            raise BadInput(f"missing required field {name!r}")
        return default
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)) or \
            kind is not int and not isinstance(value, kind):
        raise BadInput(f"{name}: expected {kind.__name__}, got {json.dumps(value)}")
    return value


def _union(value: Any, name: str, members: dict[str, type | None]) -> tuple[str, Any]:
    """Decode a union: ``"add"`` or ``{".tag": "add"}`` for a Void member,
    ``{".tag": "update", "update": "rev"}`` for a member with a value."""
    if isinstance(value, str):
        member, payload = value, None
        if member in members and members[member] is not None:
            raise BadInput(f"{name}: {member!r} is not a Void member; "
                           f"use {{\".tag\": {member!r}, ...}}")
    elif isinstance(value, dict) and isinstance(value.get(".tag"), str):
        member = value[".tag"]
        payload = value.get(member)
    else:
        raise BadInput(f"{name}: expected a union (a tag string or an object with \".tag\")")
    if member not in members:
        raise BadInput(f"{name}: unknown tag {member!r}")
    kind = members[member]
    if kind is not None and not isinstance(payload, kind):
        raise BadInput(f"{name}: {member!r} needs a {kind.__name__} value")
    return member, payload


def _rev_arg(value: Any, name: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{9,}", value):
        raise BadInput(f"{name}: {json.dumps(value)} is not a rev (at least 9 hex digits)")
    return value


def _hash_arg(arg: dict[str, Any]) -> str | None:
    value = _get(arg, "content_hash", str, None)
    if value is not None and len(value) != 64:
        raise BadInput(f"content_hash: {value!r} must be 64 characters long")
    return value


def _time_arg(arg: dict[str, Any], name: str) -> str | None:
    value = _get(arg, name, str, None)
    if value is not None:
        try:
            datetime.strptime(value, _TIME_FORMAT)
        except ValueError:
            raise BadInput(f"{name}: {value!r} is not a time like 2015-05-12T15:50:38Z") from None
    return value


@dataclass(frozen=True)
class _Commit:
    path: str
    mode: str
    rev: str | None
    autorename: bool
    strict: bool
    client_modified: str | None


def _commit_arg(arg: dict[str, Any]) -> _Commit:
    """A CommitInfo (or UploadArg): defaults mode=add, autorename/mute/strict_conflict=false."""
    path = _get(arg, "path", str)
    mode, rev = _union(arg.get("mode", "add"), "mode",
                       {"add": None, "overwrite": None, "update": str})
    _get(arg, "mute", bool, False)
    return _Commit(path=path, mode=mode, rev=_rev_arg(rev, "mode.update") if rev else None,
                   autorename=_get(arg, "autorename", bool, False),
                   strict=_get(arg, "strict_conflict", bool, False),
                   client_modified=_time_arg(arg, "client_modified"))


def _cursor_arg(arg: dict[str, Any]) -> tuple[str, int]:
    cursor = _get(arg, "cursor", dict)
    offset = _get(cursor, "offset", int)
    if offset < 0:
        raise BadInput("cursor.offset: must not be negative")
    return _get(cursor, "session_id", str), offset


def _damaged(data: bytes) -> bytes:
    """``data`` with one byte flipped (an empty body gains a stray byte)."""
    if not data:
        return b"\x00"
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]


def _malformed_path(path: str) -> bool:
    if path == "/" or path.endswith("/") or "//" in path:
        return True
    return any(part in (".", "..") or part != part.rstrip() or "\x00" in part
               for part in path[1:].split("/"))


def _ancestors(lower: str) -> list[str]:
    """``/a/b/c`` -> ``["/a", "/a/b"]``."""
    parts = lower.split("/")[1:-1]
    return ["/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1)]


# --- the emulator ---------------------------------------------------------------------------

class DropboxEmulator(Emulator):
    """A Dropbox API v2 account on loopback, for the real SDK over a loopback session.

    :param app_key: the app key ``/oauth2/token`` expects as ``client_id``.
    :param access_token_ttl: seconds an access token lives (also its ``expires_in``).

    :ivar app_key: as given.
    :ivar access_token_ttl: as given.
    :ivar account_id: the account's ``dbid:...`` id.
    :ivar uid: the account's legacy numeric user id (``uid`` of ``/oauth2/token``).
    :ivar max_upload_bytes: the largest request body an upload route takes
        (150 MiB; lower it to test ``payload_too_large`` cheaply).
    :ivar upload_session_ttl: seconds an upload session lives (7 days).
    :ivar server_errors: exceptions the emulator itself raised while handling
        requests (each answered with a 500); a test fixture should assert it is empty.
    """

    name = "dropbox-emulator"
    prefixes = PREFIXES
    routes = ROUTES
    hosts = HOSTS

    def __init__(self, *, app_key: str = "edgesync-test", access_token_ttl: float = 14400) -> None:
        super().__init__()
        self.app_key = app_key
        self.access_token_ttl = access_token_ttl
        self.account_id = "dbid:AA" + secrets.token_urlsafe(27)[:33]
        self.uid = str(10_000_000 + secrets.randbelow(80_000_000))
        self.max_upload_bytes = 150 * _MiB
        self.upload_session_ttl = 7 * 24 * 3600.0
        self._rev_counter = 0
        self._clear_state()

    def _clear_state(self) -> None:
        """Forget files, folders, upload sessions, tokens, auth codes and the quota
        (:meth:`reset`); revs keep increasing across resets."""
        self._files: dict[str, _File] = {}
        self._folders: dict[str, _Folder] = {}
        self._deleted: dict[str, str] = {}
        self._revisions: dict[str, _File] = {}
        self._upload_sessions: dict[str, _UploadSession] = {}
        self._refresh_tokens: dict[str, bool] = {}
        self._access_tokens: dict[str, _AccessToken] = {}
        self._auth_codes: dict[str, str] = {}
        self._quota: int | None = None

    # --- accounts and tokens -----------------------------------------------------------------

    def link_account(self) -> str:
        """A new refresh token for the app, as if the user had granted offline access.

        :returns: the refresh token, for
            ``Dropbox(oauth2_refresh_token=..., app_key=emulator.app_key)``.
        """
        with self._lock:
            token = "rt." + secrets.token_urlsafe(24)
            self._refresh_tokens[token] = True
            return token

    def issue_access_token(self) -> str:
        """A new access token with no refresh token behind it, for
        ``Dropbox(oauth2_access_token=...)``."""
        with self._lock:
            return self._new_access_token(None)

    def _new_access_token(self, refresh_token: str | None) -> str:
        token = "sl." + secrets.token_urlsafe(32)
        self._access_tokens[token] = _AccessToken(refresh_token, time.monotonic())
        return token

    def mint_auth_code(self, code_challenge: str) -> str:
        """The code the authorize page would show for a PKCE flow.

        :param code_challenge: the flow's S256 challenge (the ``code_challenge``
            query parameter of its authorize URL).
        :returns: a single-use code for ``/oauth2/token`` (``grant_type=authorization_code``).
        """
        with self._lock:
            code = secrets.token_urlsafe(32)
            self._auth_codes[code] = code_challenge
            return code

    def revoke_refresh_token(self, token: str) -> None:
        """Revoke a refresh token and the access tokens issued from it: refreshing
        then gives ``400 invalid_grant`` and their calls ``401 invalid_access_token``.

        :raises KeyError: the emulator never issued ``token``.
        """
        with self._lock:
            if token not in self._refresh_tokens:
                raise KeyError(f"unknown refresh token {token!r}")
            self._refresh_tokens[token] = False
            for access in self._access_tokens.values():
                if access.refresh_token == token:
                    access.revoked = True

    def expire_access_tokens(self) -> None:
        """Expire every access token issued so far: each call gets
        ``401 expired_access_token`` until the client refreshes."""
        with self._lock:
            for access in self._access_tokens.values():
                access.expired = True

    # --- direct state access ("another device") ----------------------------------------------

    def put_file(self, path: str, data: bytes) -> dict[str, Any]:
        """Write a file as another device would: always a new rev, even for equal bytes.

        :param path: ``/a/b.txt``; missing parent folders are created.
        :param data: the content.
        :returns: its FileMetadata, as ``files/upload`` returns it (no ``".tag"``).
        :raises ValueError: a malformed path, a file in an ancestor position or
            a folder at ``path``.
        """
        if not path.startswith("/") or _malformed_path(path):
            raise ValueError(f"malformed Dropbox path {path!r}")
        with self._lock:
            lower = path.lower()
            if any(a in self._files for a in _ancestors(lower)):
                raise ValueError(f"a file is in an ancestor position of {path!r}")
            if lower in self._folders:
                raise ValueError(f"{path!r} is a folder")
            existing = self._files.get(lower)
            return self._store(existing.display if existing else path, bytes(data), None).metadata()

    def file(self, path: str) -> bytes | None:
        """The content of the file at ``path`` (case-insensitive), or None."""
        with self._lock:
            found = self._files.get(path.lower())
            return found.data if found else None

    def metadata(self, path: str) -> dict[str, Any] | None:
        """What ``files/get_metadata`` returns for ``path`` (with ``".tag"``), or None."""
        with self._lock:
            lower = path.lower()
            if lower in self._files:
                return {".tag": "file", **self._files[lower].metadata()}
            if lower in self._folders:
                return self._folders[lower].metadata()
            return None

    def delete_file(self, path: str) -> None:
        """Delete the file (or folder, with its contents) at ``path``.

        :raises FileNotFoundError: nothing is there.
        """
        with self._lock:
            if not self._delete(path.lower()):
                raise FileNotFoundError(path)

    def files(self) -> dict[str, bytes]:
        """Every file, by display path."""
        with self._lock:
            return {f.display: f.data for f in self._files.values()}

    def set_quota(self, nbytes: int | None) -> None:
        """Limit the account's total file size; commits beyond it fail
        ``insufficient_space``. None: unlimited (the default)."""
        with self._lock:
            self._quota = nbytes

    def expire_upload_sessions(self) -> None:
        """Forget every upload session: later calls on them get ``not_found``."""
        with self._lock:
            self._upload_sessions.clear()

    # --- faults and the journal --------------------------------------------------------------

    def route_name(self, route: str) -> str:
        """Routes may be given as ``"/2/files/upload"`` or ``"files/upload"``."""
        return route.strip("/").removeprefix("2/")

    # --- request handling --------------------------------------------------------------------

    def serve(self, request: HTTPRequest) -> Reply:
        """The server's entry point: the request in this emulator's terms, then :meth:`_handle`."""
        return self._handle(_Request(method=request.method, host=request.host,
                                     kind=HOST_KINDS.get(request.host), path=request.path,
                                     query=parse_qs(request.query, keep_blank_values=True),
                                     headers=dict(request.headers), body=request.body))

    def _handle(self, request: _Request) -> Reply:
        route = request.path.lstrip("/")
        if request.path.startswith("/2/"):
            route = request.path[3:]
        kind = request.kind
        if kind is None:
            spec = _ROUTES.get(route)
            kind = spec.host if spec else _OAUTH_ROUTES.get(route)
        rule = self._faults.take(route, kind)
        ctx = _Context(self, request, route)
        try:
            reply = rule.action.run(ctx) if rule else ctx.process()
        except Exception as exc:  # noqa: BLE001 (a bug in the emulator or an action: say so)
            self.server_errors.append(exc)
            reply = text_reply(500, "emulator error:\n" + traceback.format_exc())
        if reply.header("X-Dropbox-Request-Id") is None:
            reply.headers.append(("X-Dropbox-Request-Id", secrets.token_hex(16)))
        dropped = reply.drop and reply.truncate is None
        record = JournalRecord(method=request.method, host=request.host, route=route,
                               headers=dict(request.headers), arg=ctx.arg,
                               body_len=len(request.body),
                               status=None if dropped else reply.status,
                               fault=repr(rule.action) if rule else None)
        with self._lock:
            self._journal.append(record)
        return reply

    def _process(self, request: _Request, route: str, corrupt: bool) -> Reply:
        with self._lock:
            try:
                if route in _OAUTH_ROUTES and not request.path.startswith("/2/"):
                    if request.kind not in (None, _OAUTH_ROUTES[route]):
                        raise BadInput(f"/{route} is served by {HOSTS[_OAUTH_ROUTES[route]]}")
                    if route == "oauth2/token":
                        return self._oauth_token(request)
                    return self._oauth_authorize(request)
                spec = _ROUTES.get(route) if request.path.startswith("/2/") else None
                if spec is None:
                    raise BadInput(f"Unknown API function: {request.path!r}")
                if request.kind is not None and request.kind != spec.host:
                    raise BadInput(f"{route} is served by {HOSTS[spec.host]}, "
                                   f"not {request.host}")
                if request.method != "POST" and not (spec.style == "download"
                                                     and request.method == "GET"):
                    raise BadInput(f"{route} takes POST, not {request.method}")
                denied = self._authorize(request)
                if denied is not None:
                    return denied
                arg = self._decode_arg(request, spec)
                body = _damaged(request.body) if corrupt and spec.style == "upload" \
                    else request.body
                reply: Reply = getattr(self, spec.handler)(arg, body, request)
                if corrupt and spec.style == "download" and reply.status in (200, 206):
                    reply.body = _damaged(reply.body)
                return reply
            except BadInput as exc:
                return text_reply(400, f'Error in call to API function "{route}": {exc}')
            except RouteError as exc:
                return api_error(exc.error, status=exc.status)

    def _authorize(self, request: _Request) -> Reply | None:
        value = request.headers.get("authorization")
        if value is None:
            raise BadInput('Must provide HTTP header "Authorization" or URL parameter '
                           '"authorization".')
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise BadInput('Invalid authorization value in HTTP header "Authorization": '
                           f'{value!r}. Expecting "Bearer <oauth2-access-token>".')
        access = self._access_tokens.get(token.strip())
        if access is None or access.revoked:
            return auth_error("invalid_access_token")
        if access.expired or time.monotonic() - access.issued >= self.access_token_ttl:
            return auth_error("expired_access_token")
        return None

    def _decode_arg(self, request: _Request, spec: _Route) -> Any:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if spec.style == "rpc":
            if media != "application/json":
                raise BadInput(f'Bad HTTP "Content-Type" header: '
                               f'{request.headers.get("content-type")!r}. '
                               'Expecting "application/json".')
            try:
                text = request.body.decode("utf-8")
            except UnicodeDecodeError:
                raise BadInput("the request body is not UTF-8") from None
            if spec.void:
                if text.strip() not in ("", "null"):
                    raise BadInput("this function takes no argument; send null")
                return None
            raw = text
        else:
            if spec.style == "upload" and media != "application/octet-stream":
                raise BadInput(f'Bad HTTP "Content-Type" header: '
                               f'{request.headers.get("content-type")!r}. '
                               'Expecting "application/octet-stream".')
            if spec.style == "download" and request.body:
                raise BadInput("download functions take no request body")
            header = request.headers.get("dropbox-api-arg")
            raw = header if header is not None else (request.query.get("arg") or [None])[-1]
            if raw is None:
                raise BadInput('Must provide HTTP header "Dropbox-API-Arg" or URL parameter "arg".')
            if header is not None and not header.isascii():
                raise BadInput('HTTP header "Dropbox-API-Arg" must be ASCII: escape other '
                               "characters (and 0x7F) as \\uXXXX")
        try:
            arg = json.loads(raw)
        except ValueError as exc:
            raise BadInput(f"could not decode input as JSON: {exc}") from None
        if not isinstance(arg, dict):
            raise BadInput("the argument must be a JSON object")
        return arg

    def _peek_arg(self, request: _Request, route: str) -> Any:
        """The argument for the journal and fault actions; None when malformed."""
        if route == "oauth2/token":
            return {k: v[-1] for k, v in parse_qs(request.body.decode("latin-1"),
                                                  keep_blank_values=True).items()}
        if route == "oauth2/authorize":
            return {k: v[-1] for k, v in request.query.items()}
        spec = _ROUTES.get(route)
        if spec is None or spec.void:
            return None
        try:
            return self._decode_arg(request, spec)
        except BadInput:
            return None

    # --- OAuth -------------------------------------------------------------------------------

    def _oauth_error(self, error: str, description: str) -> Reply:
        return json_reply(400, {"error": error, "error_description": description})

    def _oauth_token(self, request: _Request) -> Reply:
        if request.method != "POST":
            raise BadInput("/oauth2/token takes POST")
        form = {k: v[-1] for k, v in parse_qs(request.body.decode("latin-1"),
                                              keep_blank_values=True).items()}
        grant = form.get("grant_type")
        if form.get("client_id") != self.app_key:
            return self._oauth_error("invalid_client", "Invalid client_id or client_secret")
        if grant == "refresh_token":
            refresh = form.get("refresh_token", "")
            if not self._refresh_tokens.get(refresh):
                return self._oauth_error("invalid_grant", "refresh token is invalid or revoked")
            return json_reply(200, {"access_token": self._new_access_token(refresh),
                                    "token_type": "bearer",
                                    "expires_in": int(self.access_token_ttl)})
        if grant == "authorization_code":
            challenge = self._auth_codes.pop(form.get("code", ""), None)
            if challenge is None:
                return self._oauth_error("invalid_grant", "code doesn't exist or has expired")
            verifier = form.get("code_verifier", "")
            expected = base64.urlsafe_b64encode(
                hashlib.sha256(verifier.encode("ascii", "replace")).digest()).decode().rstrip("=")
            if not verifier or expected != challenge:
                return self._oauth_error("invalid_grant", "invalid code verifier")
            refresh = self.link_account()
            return json_reply(200, {"access_token": self._new_access_token(refresh),
                                    "token_type": "bearer",
                                    "expires_in": int(self.access_token_ttl),
                                    "refresh_token": refresh, "scope": _SCOPE,
                                    "uid": self.uid, "account_id": self.account_id})
        return self._oauth_error("unsupported_grant_type",
                                 f"grant_type {grant!r} is not supported here")

    def _oauth_authorize(self, request: _Request) -> Reply:
        query = {k: v[-1] for k, v in request.query.items()}
        if request.method != "GET":
            raise BadInput("/oauth2/authorize takes GET")
        if query.get("response_type") != "code":
            raise BadInput("response_type must be 'code'")
        if query.get("client_id") != self.app_key:
            raise BadInput(f"unknown client_id {query.get('client_id')!r}")
        if "redirect_uri" in query:
            raise BadInput("the emulator serves the no-redirect flow only")
        challenge = query.get("code_challenge")
        if not challenge or query.get("code_challenge_method") != "S256":
            raise BadInput("the emulator authorizes PKCE flows only (code_challenge, S256)")
        return Reply(200, [("Content-Type", "text/plain; charset=utf-8")],
                     self.mint_auth_code(challenge).encode("ascii"))

    # --- the store ---------------------------------------------------------------------------

    def _next_rev(self) -> str:
        self._rev_counter += 1
        return f"{0x015F00000000 + self._rev_counter:012x}"

    def _store(self, display: str, data: bytes, client_modified: str | None) -> _File:
        """Create or replace the file at ``display`` with a new rev."""
        lower = display.lower()
        existing = self._files.get(lower)
        now = datetime.now(UTC).strftime(_TIME_FORMAT)
        stored = _File(display=existing.display if existing else display, data=data,
                       rev=self._next_rev(),
                       id=existing.id if existing else "id:" + secrets.token_urlsafe(16),
                       client_modified=client_modified or now, server_modified=now,
                       hash=content_hash(data))
        self._files[lower] = stored
        self._revisions[stored.rev] = stored
        self._deleted.pop(lower, None)
        parts = display.split("/")
        for depth in range(2, len(parts)):
            folder = "/".join(parts[:depth])
            if folder.lower() not in self._folders:
                self._folders[folder.lower()] = _Folder(folder, "id:" + secrets.token_urlsafe(16))
                self._deleted.pop(folder.lower(), None)
        return stored

    def _delete(self, lower: str) -> dict[str, Any] | None:
        """Delete a file or a folder with its contents; its metadata, or None if absent."""
        if lower in self._files:
            removed = self._files.pop(lower)
            self._deleted[lower] = removed.display
            return {".tag": "file", **removed.metadata()}
        if lower in self._folders:
            folder = self._folders.pop(lower)
            self._deleted[lower] = folder.display
            for table in (self._files, self._folders):
                for key in [k for k in table if k.startswith(lower + "/")]:
                    self._deleted[key] = table.pop(key).display
            return folder.metadata()
        return None

    def _used(self) -> int:
        return sum(len(f.data) for f in self._files.values())

    def _free_name(self, display: str, conflicted: bool) -> str:
        parent, name = display.rsplit("/", 1)
        stem, dot, ext = name.rpartition(".")
        if not stem:  # no dot, or a leading one only (".profile")
            stem, dot, ext = name, "", ""
        suffix = f"{dot}{ext}"
        candidates = ([f"{stem} (conflicted copy){suffix}"] if conflicted else []) + [
            f"{stem} ({'conflicted copy ' if conflicted else ''}{n}){suffix}"
            for n in range(2, 10_000)]
        for candidate in candidates:
            path = f"{parent}/{candidate}"
            if path.lower() not in self._files and path.lower() not in self._folders:
                return path
        raise AssertionError("no free name")  # pragma: no cover

    def _commit(self, commit: _Commit, data: bytes) -> dict[str, Any]:
        """Apply the WriteMode rules; the new (or unchanged) FileMetadata.

        :raises WriteFailure: malformed path, conflict, insufficient space.
        """
        if not commit.path.startswith("/"):
            raise BadInput(f"path: {commit.path!r} does not start with '/'")
        if _malformed_path(commit.path):
            raise WriteFailure(tag("malformed_path"))
        display, lower = commit.path, commit.path.lower()
        if any(a in self._files for a in _ancestors(lower)):
            raise WriteFailure(tag("conflict", conflict=tag("file_ancestor")))
        existing = self._files.get(lower)
        in_the_way = "folder" if lower in self._folders else None
        if existing is not None:
            identical = existing.hash == content_hash(data)
            if commit.mode == "overwrite" or commit.mode == "update" and existing.rev == commit.rev:
                if identical:  # Dropbox makes no new revision for the same bytes
                    return existing.metadata()
            elif identical and not commit.strict:
                return existing.metadata()
            else:
                in_the_way = "file"
        elif commit.mode == "update" and commit.strict and in_the_way is None:
            in_the_way = "file"  # strict: the rev it meant is gone
        if in_the_way is not None:
            if not commit.autorename:
                raise WriteFailure(tag("conflict", conflict=tag(in_the_way)))
            display = self._free_name(display, conflicted=commit.mode == "update")
            existing = None
        if self._quota is not None and \
                self._used() - (len(existing.data) if existing else 0) + len(data) > self._quota:
            raise WriteFailure(tag("insufficient_space"))
        return self._store(display, data, commit.client_modified).metadata()

    def _lookup(self, path: str) -> _File | _Folder | None:
        """The file or folder at a ``/path``, ``id:...`` or ``rev:...`` (None: nothing).

        :raises BadInput: not a path at all.
        :raises _LookupFailure: a malformed path (the route wraps its LookupError).
        """
        if path.startswith("id:"):
            for entry in [*self._files.values(), *self._folders.values()]:
                if entry.id == path:
                    return entry
            return None
        if path.startswith("rev:"):
            return self._revisions.get(path[4:])
        if not path.startswith("/"):
            raise BadInput(f"path: {path!r} does not match the pattern "
                           "'/...', 'id:...' or 'rev:...'")
        if _malformed_path(path):
            raise _LookupFailure(tag("malformed_path"))
        lower = path.lower()
        return self._files.get(lower) or self._folders.get(lower)

    # --- routes ------------------------------------------------------------------------------

    def _r_get_current_account(self, arg: None, body: bytes, request: _Request) -> Reply:
        namespace = str(1_000_000 + int(self.uid) % 1_000_000)
        return json_reply(200, {
            "account_id": self.account_id,
            "name": {"given_name": "Edge", "surname": "Sync", "familiar_name": "Edge",
                     "display_name": "Edge Sync", "abbreviated_name": "ES"},
            "email": "edgesync@example.invalid", "email_verified": True, "disabled": False,
            "locale": "en", "referral_link": "https://www.dropbox.com/referrals/emulator",
            "is_paired": False, "account_type": tag("basic"), "country": "US",
            "root_info": tag("user", root_namespace_id=namespace, home_namespace_id=namespace),
        })

    def _r_get_space_usage(self, arg: None, body: bytes, request: _Request) -> Reply:
        return json_reply(200, {"used": self._used(), "allocation": tag(
            "individual", allocated=self._quota if self._quota is not None else 2 * 1024**3)})

    def _r_get_metadata(self, arg: dict[str, Any], body: bytes, request: _Request) -> Reply:
        path = _get(arg, "path", str)
        if path == "":
            raise BadInput("path: the root folder is unsupported")
        include_deleted = _get(arg, "include_deleted", bool, False)
        try:
            found = self._lookup(path)
        except _LookupFailure as exc:
            raise RouteError(tag("path", path=exc.lookup_error)) from None
        if isinstance(found, _File):
            return json_reply(200, {".tag": "file", **found.metadata()})
        if isinstance(found, _Folder):
            return json_reply(200, found.metadata())
        deleted = self._deleted.get(path.lower())
        if include_deleted and deleted is not None:
            return json_reply(200, {".tag": "deleted", "name": deleted.rsplit("/", 1)[1],
                                    "path_lower": deleted.lower(), "path_display": deleted})
        raise RouteError(tag("path", path=tag("not_found")))

    def _r_download(self, arg: dict[str, Any], body: bytes, request: _Request) -> Reply:
        path = _get(arg, "path", str)
        rev = _get(arg, "rev", str, None)
        try:
            found = self._revisions.get(_rev_arg(rev, "rev")) if rev else self._lookup(path)
        except _LookupFailure as exc:
            raise RouteError(tag("path", path=exc.lookup_error)) from None
        if isinstance(found, _Folder):
            raise RouteError(tag("path", path=tag("not_file")))
        if found is None:
            raise RouteError(tag("path", path=tag("not_found")))
        data = found.data
        headers = [("Content-Type", "application/octet-stream"), ("Accept-Ranges", "bytes"),
                   ("Dropbox-API-Result", header_json(found.metadata()))]
        wanted = request.headers.get("range")
        span = parse_range(wanted, len(data)) if wanted else None
        if span == "unsatisfiable":
            reply = text_reply(416, f"Range {wanted!r} is not satisfiable for {len(data)} bytes")
            reply.headers.append(("Content-Range", f"bytes */{len(data)}"))
            return reply
        if span is None:
            return Reply(200, headers, data)
        start, end = span
        headers.append(("Content-Range", f"bytes {start}-{end}/{len(data)}"))
        return Reply(206, headers, data[start:end + 1])

    def _r_delete(self, arg: dict[str, Any], body: bytes, request: _Request) -> Reply:
        path = _get(arg, "path", str)
        parent_rev = _get(arg, "parent_rev", str, None)
        if parent_rev is not None:
            _rev_arg(parent_rev, "parent_rev")
        try:
            found = self._lookup(path)
        except _LookupFailure as exc:
            raise RouteError(tag("path_lookup", path_lookup=exc.lookup_error)) from None
        if found is None or path.startswith("rev:"):
            raise RouteError(tag("path_lookup", path_lookup=tag("not_found")))
        if parent_rev is not None:
            if isinstance(found, _Folder):  # "This field does not support deleting a folder."
                raise RouteError(tag("path_lookup", path_lookup=tag("not_file")))
            if found.rev != parent_rev:
                # A rev mismatch is a conflict with what is there now (see the package docs).
                raise RouteError(tag("path_write",
                                     path_write=tag("conflict", conflict=tag("file"))))
        return json_reply(200, {"metadata": self._delete(found.display.lower())})

    def _check_body(self, body: bytes, expected_hash: str | None) -> None:
        if len(body) > self.max_upload_bytes:
            raise RouteError(tag("payload_too_large"))
        if expected_hash is not None and content_hash(body) != expected_hash:
            raise RouteError(tag("content_hash_mismatch"))

    def _r_upload(self, arg: dict[str, Any], body: bytes, request: _Request) -> Reply:
        commit = _commit_arg(arg)
        self._check_body(body, _hash_arg(arg))
        try:
            return json_reply(200, self._commit(commit, body))
        except WriteFailure as exc:
            raise RouteError(tag("path", reason=exc.write_error, upload_session_id="")) from None

    def _session(self, session_id: str) -> _UploadSession | None:
        found = self._upload_sessions.get(session_id)
        if found is not None and time.monotonic() - found.created >= self.upload_session_ttl:
            del self._upload_sessions[session_id]
            return None
        return found

    def _r_session_start(self, arg: dict[str, Any], body: bytes, request: _Request) -> Reply:
        close = _get(arg, "close", bool, False)
        session_type, _ = _union(arg.get("session_type", "sequential"), "session_type",
                                 {"sequential": None, "concurrent": None})
        expected = _hash_arg(arg)
        concurrent = session_type == "concurrent"
        if concurrent and body:
            raise RouteError(tag("concurrent_session_data_not_allowed"))
        if concurrent and close:
            raise RouteError(tag("concurrent_session_close_not_allowed"))
        self._check_body(body, expected)
        session = _UploadSession(id="pid_upload_session:" + secrets.token_urlsafe(24),
                                 concurrent=concurrent, created=time.monotonic(),
                                 data=bytearray(body), closed=close)
        self._upload_sessions[session.id] = session
        return json_reply(200, {"session_id": session.id})

    def _r_session_append(self, arg: dict[str, Any], body: bytes, request: _Request) -> Reply:
        session_id, offset = _cursor_arg(arg)
        close = _get(arg, "close", bool, False)
        expected = _hash_arg(arg)
        session = self._session(session_id)
        if session is None:
            raise RouteError(tag("not_found"))
        if session.concurrent:
            if offset % _CONCURRENT_ALIGN:
                raise RouteError(tag("concurrent_session_invalid_offset"))
            if len(body) % _CONCURRENT_ALIGN and not close:
                raise RouteError(tag("concurrent_session_invalid_data_size"))
            if session.closed and session.closed_end is not None and offset >= session.closed_end:
                raise RouteError(tag("closed"))
        else:
            if offset != session.size:
                raise RouteError(tag("incorrect_offset", correct_offset=session.size))
            if session.closed:
                raise RouteError(tag("closed"))
        self._check_body(body, expected)
        if offset + len(body) > _MAX_SESSION_BYTES:
            raise RouteError(tag("too_large"))
        if session.concurrent:
            session.chunks[offset] = body
            if close:
                session.closed, session.closed_end = True, offset + len(body)
        else:
            session.data += body
            session.closed = close
        return json_reply(200, None)

    def _finish(self, arg: dict[str, Any], body: bytes, *, batch: bool) -> dict[str, Any]:
        """Finish one upload session (``finish`` or a ``finish_batch_v2`` entry).

        :raises RouteError: with an UploadSessionFinishError.
        """
        session_id, offset = _cursor_arg(arg)
        commit = _commit_arg(_get(arg, "commit", dict))
        expected = _hash_arg(arg)
        session = self._session(session_id)

        def lookup_failed(error: dict[str, Any]) -> RouteError:
            return RouteError(tag("lookup_failed", lookup_failed=error))

        if session is None:
            raise lookup_failed(tag("not_found"))
        if session.concurrent:
            if body:
                raise RouteError(tag("concurrent_session_data_not_allowed"))
            if not session.closed:
                raise RouteError(tag("concurrent_session_not_closed"))
            data, position = bytearray(), 0
            for chunk_offset in sorted(session.chunks):
                if chunk_offset != position:
                    raise RouteError(tag("concurrent_session_missing_data"))
                data += session.chunks[chunk_offset]
                position += len(session.chunks[chunk_offset])
            if position != session.closed_end:
                raise RouteError(tag("concurrent_session_missing_data"))
            if offset != position:
                raise lookup_failed(tag("incorrect_offset", correct_offset=position))
        else:
            if offset != session.size:
                raise lookup_failed(tag("incorrect_offset", correct_offset=session.size))
            if batch and not session.closed:
                raise lookup_failed(tag("not_closed"))
            if session.closed and body:
                raise lookup_failed(tag("closed"))
            data = session.data
        self._check_body(body, expected)
        try:
            # On a failed commit the session stays as it was, so the client may try again.
            metadata = self._commit(commit, bytes(data) + body)
        except WriteFailure as exc:
            raise RouteError(tag("path", path=exc.write_error)) from None
        del self._upload_sessions[session_id]
        return metadata

    def _r_session_finish(self, arg: dict[str, Any], body: bytes, request: _Request) -> Reply:
        return json_reply(200, self._finish(arg, body, batch=False))

    def _r_finish_batch(self, arg: dict[str, Any], body: bytes, request: _Request) -> Reply:
        entries = _get(arg, "entries", list)
        if len(entries) > 1000:
            raise BadInput("entries: at most 1000")
        results = []
        for entry in entries:
            if not isinstance(entry, dict):
                raise BadInput("entries: each entry must be an object")
            try:
                results.append(tag("success", **self._finish(entry, b"", batch=True)))
            except RouteError as exc:
                results.append(tag("failure", failure=exc.error))
        return json_reply(200, {"entries": results})


class _LookupFailure(Exception):
    def __init__(self, lookup_error: dict[str, Any]) -> None:
        super().__init__(lookup_error[".tag"])
        self.lookup_error = lookup_error


class _Context:
    """The request as fault actions see it (see :class:`FaultContext`)."""

    def __init__(self, emulator: DropboxEmulator, request: _Request, route: str) -> None:
        self.route = route
        self._emulator = emulator
        self._request = request
        self._arg: Any = _MISSING

    @property
    def arg(self) -> Any:
        if self._arg is _MISSING:
            self._arg = self._emulator._peek_arg(self._request, self.route)
        return self._arg

    def process(self, *, corrupt: bool = False) -> Reply:
        return self._emulator._process(self._request, self.route, corrupt)
