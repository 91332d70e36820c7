"""The emulator: state, routes and the loopback HTTP server.

One :class:`OneDriveEmulator` holds one personal OneDrive (files, implicit
folders, upload sessions, download links), one Microsoft account's tokens and
device codes, and the fault rules. It serves them on ``127.0.0.1:<free port>``
with the standard library's threaded HTTP server, routing by the ``Host``
header. Each request is handled under one lock, so concurrent clients see a
consistent store; only injected delays run outside it.
"""

from __future__ import annotations

import json
import mimetypes
import re
import secrets
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from edgesync.testing.emulation import Emulator, HTTPRequest, parse_range
from edgesync_onedrive.testing._adapter import PREFIXES
from edgesync_onedrive.testing._faults import (
    DOWNLOAD_ROUTES,
    GRAPH_ROUTES,
    LOGIN_ROUTES,
    UPLOAD_ROUTES,
)
from edgesync_onedrive.testing._wire import (
    HOST_KINDS,
    HOSTS,
    LOGIN_JSON,
    GraphFailure,
    Reply,
    b64url,
    fail,
    graph_error,
    invalid_grant_reply,
    json_reply,
    now_stamp,
    oauth_error,
    quick_xor_hash,
    stamp_after,
    unauthenticated,
)

_KiB = 1024
_MiB = 1024 * _KiB
#: Intermediate fragments must be multiples of this (320 KiB).
FRAGMENT_ALIGN = 320 * _KiB
#: Microsoft's tenant for personal accounts (what ``consumers`` resolves to).
MSA_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
_ALIASES = ["login.microsoftonline.com", "login.windows.net", "login.microsoft.com",
            "sts.windows.net"]
_RESERVED_SCOPES = ("openid", "profile", "offline_access")
_DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
_CONFLICT = ("fail", "replace", "rename")
_BAD_NAME = re.compile(r'["*:<>?\\|\x00-\x1f]')
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

#: The attributes :meth:`OneDriveEmulator.reset` puts back.
_SWITCHES = ("auto_approve", "strict", "etag_bump_on_session", "rotate_refresh_tokens",
             "access_token_ttl", "device_code_ttl", "device_code_interval",
             "upload_session_ttl", "simple_upload_limit", "max_fragment_bytes")

#: Every route a fault rule may name (besides ``"*"``).
ROUTES = frozenset(LOGIN_ROUTES + GRAPH_ROUTES + UPLOAD_ROUTES + DOWNLOAD_ROUTES)


# --- records --------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class JournalRecord:
    """One request the emulator received, for assertions.

    :ivar method: ``"PUT"``, ``"GET"``, ...
    :ivar host: the ``Host`` header without the port (``"upload.onedrive.test"``).
    :ivar route: the route name (``"fragment"``, ``"token"``, see ``ROUTES``), or
        ``"unknown"`` for a request no route serves.
    :ivar path: the URL path as sent (still percent-encoded), without the query.
    :ivar query: the query parameters, decoded (the last value of each).
    :ivar form: a form-encoded body (the token and devicecode requests),
        decoded (the last value of each); None for any other body.
    :ivar headers: the request headers, names lowercased.
    :ivar body_len: the request body's length in bytes.
    :ivar status: the status sent; None when the connection was dropped instead.
    :ivar fault: the injected action that handled it (its repr), or None.
    """

    method: str
    host: str
    route: str
    path: str
    query: dict[str, str]
    form: dict[str, str] | None
    headers: dict[str, str]
    body_len: int
    status: int | None
    fault: str | None = None


@dataclass
class _Item:
    id: str
    path: str  # display path; "/" for the root
    folder: bool
    created: str
    modified: str
    data: bytes = b""
    mime: str = "application/octet-stream"
    hash: str = ""
    etag_version: int = 0
    ctag_version: int = 0

    @property
    def name(self) -> str:
        return "root" if self.path == "/" else self.path.rsplit("/", 1)[1]

    @property
    def etag(self) -> str:
        return "a" + b64url(f"{self.id}.{self.etag_version}".encode())

    @property
    def ctag(self) -> str:
        return "a" + b64url(f"c:{self.id}.{self.ctag_version}".encode())


@dataclass
class _UploadSession:
    token: str
    path: str  # the display path the commit writes to
    conflict: str
    file_size: int | None
    defer: bool
    deadline: float
    expiration: str
    if_match: str | None  # the target's eTag the commit still requires (after the bump)
    if_none_match: bool  # the commit requires that nothing is at the path
    data: bytearray = field(default_factory=bytearray)
    total: int | None = None

    @property
    def complete(self) -> bool:
        return self.total is not None and len(self.data) == self.total

    def status(self) -> dict[str, Any]:
        ranges = [] if self.complete else [f"{len(self.data)}-"]
        return {"expirationDateTime": self.expiration, "nextExpectedRanges": ranges}


@dataclass
class _AccessToken:
    deadline: float
    expired: bool = False


@dataclass
class _RefreshToken:
    tenant: str
    scope: str
    valid: bool = True


@dataclass
class _DeviceCode:
    device_code: str
    user_code: str
    tenant: str
    scope: str
    deadline: float
    state: str = "pending"  # pending | approved | declined | redeemed


@dataclass
class _Request:
    method: str
    host: str
    kind: str | None
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class _Address:
    """Where a Graph URL points: the root, an item id, a path, or a path below an id."""

    item_id: str | None = None
    rel: str | None = None  # "/a/b" below the root or below item_id


@dataclass(frozen=True)
class _Route:
    name: str
    handler: str
    address: _Address | None = None
    tenant: str | None = None
    token: str | None = None


_UNKNOWN = _Route("unknown", "_r_unknown")


# --- helpers --------------------------------------------------------------------------------

def _same_etag(sent: str, etag: str) -> bool:
    """Compare entity tags leniently: ``W/`` and surrounding quotes do not matter."""
    def norm(value: str) -> str:
        value = value.strip().removeprefix("W/")
        return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    return norm(sent) == norm(etag)


def _split_path(path: str) -> list[str]:
    """``"/Docs/a.txt"`` -> ``["Docs", "a.txt"]``; raises on bad names."""
    stripped = path.strip("/")
    if not stripped:
        return []
    names = stripped.split("/")
    for name in names:
        if not name or name in (".", "..") or _BAD_NAME.search(name) or name != name.strip():
            raise fail(400, "invalidRequest", f"The name {name!r} in {path!r} is not valid "
                       "for OneDrive (empty, '.', '..', surrounding spaces or one of "
                       '" * : < > ? \\ |).')
    return names


def _form(request: _Request) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(request.body.decode("latin-1"),
                                          keep_blank_values=True).items()}


# --- the emulator ---------------------------------------------------------------------------

class OneDriveEmulator(Emulator):
    """A personal OneDrive and its Microsoft account on loopback, for MSAL and a
    Graph client over a loopback session.

    :param client_id: the application (client) id the sign-in endpoints accept.
    :param auto_approve: approve each device code as it is issued, so MSAL's
        first poll succeeds; False: the token endpoint answers
        ``authorization_pending`` until :meth:`approve_device_code`.
    :param strict: refuse what real clients get wrong but Graph may let pass:
        an ``Authorization`` header on the upload or download host (401), an
        intermediate fragment that is not a multiple of 320 KiB (400), a
        fragment sent without ``Content-Length`` (411).

    :ivar client_id: as given.
    :ivar auto_approve: as given; may be changed at any time.
    :ivar strict: as given; may be changed at any time.
    :ivar etag_bump_on_session: creating an upload session that will replace an
        existing item changes that item's ``eTag`` (not its ``cTag``), as
        OneDrive does: an ``If-Match`` with the old eTag then fails. True by
        default; False: the eTag stays.
    :ivar rotate_refresh_tokens: a redeemed refresh token stops working (the new
        one must be stored). True by default, stricter than Entra ID, which
        keeps old refresh tokens valid until they expire.
    :ivar access_token_ttl: seconds an access token lives (its ``expires_in``; 3600).
    :ivar device_code_ttl: seconds a device code lives (its ``expires_in``; 900).
    :ivar device_code_interval: the polling ``interval`` handed to clients (1 s).
    :ivar upload_session_ttl: seconds an upload session lives after its last
        fragment (3 days).
    :ivar simple_upload_limit: the largest simple upload (250 MiB; lower it to
        test the 413 cheaply).
    :ivar max_fragment_bytes: fragments of this size or more get 413 (60 MiB).
    :ivar drive_id: the drive's id (16 hex digits).
    :ivar user_id: the account's object id (``oid``, ``client_info.uid``).
    :ivar username: the account's ``preferred_username``.
    :ivar display_name: the account's name.
    :ivar server_errors: exceptions the emulator itself raised while handling
        requests (each answered with a 500); a test fixture should assert it is empty.
    """

    name = "onedrive-emulator"
    prefixes = PREFIXES
    routes = ROUTES
    hosts = HOSTS

    def __init__(self, *, client_id: str = "edgesync-test-client", auto_approve: bool = True,
                 strict: bool = True) -> None:
        super().__init__()
        self.client_id = client_id
        self.auto_approve = auto_approve
        self.strict = strict
        self.etag_bump_on_session = True
        self.rotate_refresh_tokens = True
        self.access_token_ttl = 3600.0
        self.device_code_ttl = 900.0
        self.device_code_interval = 1
        self.upload_session_ttl = 3 * 24 * 3600.0
        self.simple_upload_limit = 250 * _MiB
        self.max_fragment_bytes = 60 * _MiB
        self.drive_id = secrets.token_hex(8)
        self.user_id = "00000000-0000-0000-" + self.drive_id
        self.username = "edgesync@example.invalid"
        self.display_name = "Edge Sync"
        self._switches = {name: getattr(self, name) for name in _SWITCHES}
        self._id_counter = 101
        self._clear_state()

    def _clear_state(self) -> None:
        now = now_stamp()
        root = _Item(id=self._item_id(101), path="/", folder=True, created=now, modified=now)
        self._items: dict[str, _Item] = {"/": root}
        self._upload_sessions: dict[str, _UploadSession] = {}
        self._downloads: dict[str, tuple[str, bytes, str]] = {}
        self._download_tokens: dict[tuple[str, int], str] = {}
        self._access_tokens: dict[str, _AccessToken] = {}
        self._refresh_tokens: dict[str, _RefreshToken] = {}
        self._device_codes: dict[str, _DeviceCode] = {}
        self._quota_total = 1024**4

    def _item_id(self, number: int) -> str:
        return f"{self.drive_id.upper()}!{number}"

    def reset(self) -> None:
        """Forget everything: files, folders, upload sessions, download links,
        tokens, device codes, the quota, fault rules, the journal and
        :attr:`server_errors`; put the switches (``auto_approve``, ``strict``,
        ``etag_bump_on_session``, ``rotate_refresh_tokens``, the TTLs and
        limits) back to their values at construction. Item ids keep increasing
        across resets."""
        with self._lock:
            for name, value in self._switches.items():
                setattr(self, name, value)
            super().reset()

    # --- accounts and tokens -----------------------------------------------------------------

    def approve_device_code(self, user_code: str | None = None) -> None:
        """Approve a device code, as the user would on the verification page: the
        next poll gets tokens.

        :param user_code: the code shown to the user (``flow["user_code"]``);
            None: every pending code.
        :raises KeyError: no pending device code has that user code.
        """
        self._settle_device_codes(user_code, "approved")

    def decline_device_code(self, user_code: str | None = None) -> None:
        """Decline a device code: the next poll gets ``400 authorization_declined``.

        :param user_code: the code shown to the user; None: every pending code.
        :raises KeyError: no pending device code has that user code.
        """
        self._settle_device_codes(user_code, "declined")

    def _settle_device_codes(self, user_code: str | None, state: str) -> None:
        with self._lock:
            pending = [c for c in self._device_codes.values() if c.state == "pending"
                       and (user_code is None or c.user_code == user_code)]
            if user_code is not None and not pending:
                raise KeyError(f"no pending device code with user code {user_code!r}")
            for code in pending:
                code.state = state

    def revoke_refresh_tokens(self) -> None:
        """Revoke every refresh token issued so far: redeeming one then gives
        ``400 invalid_grant`` (AADSTS700082). Access tokens stay valid until they
        expire, as with Entra ID."""
        with self._lock:
            for token in self._refresh_tokens.values():
                token.valid = False

    def expire_access_tokens(self) -> None:
        """Expire every access token issued so far: each Graph call gets
        ``401 InvalidAuthenticationToken`` until the client refreshes."""
        with self._lock:
            for token in self._access_tokens.values():
                token.expired = True

    def issue_access_token(self) -> str:
        """A valid access token without a sign-in, for hand-made Graph requests.

        :returns: the token, for ``Authorization: Bearer <token>``.
        """
        with self._lock:
            return self._new_access_token()

    def _new_access_token(self) -> str:
        token = "EwA" + secrets.token_urlsafe(48)
        self._access_tokens[token] = _AccessToken(time.monotonic() + self.access_token_ttl)
        return token

    def _tenant_id(self, tenant: str) -> str:
        if _GUID.fullmatch(tenant):
            return tenant.lower()
        if tenant.lower() in ("consumers", "common"):
            return MSA_TENANT
        return str(uuid.uuid5(uuid.NAMESPACE_DNS, tenant.lower()))

    # --- direct state access ("another device") ----------------------------------------------

    def put_file(self, path: str, data: bytes) -> dict[str, Any]:
        """Write a file as another device would (replace; missing folders are created).

        The item keeps its id; its eTag and cTag change, even for equal bytes.

        :param path: ``"/Docs/a.txt"`` (case-insensitive when it exists).
        :param data: the content.
        :returns: its driveItem, as Graph returns it.
        :raises ValueError: a bad path, a folder at ``path`` or a file in an
            ancestor position.
        """
        with self._lock:
            try:
                names = _split_path(path)
                if not names:
                    raise ValueError("the root is a folder")
                _, item = self._write("/" + "/".join(names), bytes(data), "replace",
                                      check_quota=False)
            except GraphFailure as exc:
                raise ValueError(f"cannot write {path!r}: {exc.reply.graph_error}") from None
            return self._item_json(item)

    def file(self, path: str) -> bytes | None:
        """The content of the file at ``path`` (case-insensitive), or None."""
        with self._lock:
            found = self._items.get(self._key(path))
            return found.data if found is not None and not found.folder else None

    def item(self, path: str) -> dict[str, Any] | None:
        """The driveItem at ``path`` (a file, a folder, ``"/"`` for the root), or None."""
        with self._lock:
            found = self._items.get(self._key(path))
            return self._item_json(found) if found is not None else None

    def delete_file(self, path: str) -> None:
        """Delete the file (or folder, with its contents) at ``path``.

        :raises FileNotFoundError: nothing is there.
        :raises ValueError: ``path`` is the root.
        """
        with self._lock:
            key = self._key(path)
            if key == "/":
                raise ValueError("the root cannot be deleted")
            if key not in self._items:
                raise FileNotFoundError(path)
            self._delete(key)

    def files(self) -> dict[str, bytes]:
        """Every file, by display path."""
        with self._lock:
            return {item.path: item.data for item in self._items.values() if not item.folder}

    def set_quota(self, total_bytes: int | None) -> None:
        """Set the drive's total size: writes beyond it fail ``507 quotaLimitReached``
        (createUploadSession already when its ``fileSize`` does not fit).
        None: the default, 1 TiB."""
        with self._lock:
            self._quota_total = 1024**4 if total_bytes is None else total_bytes

    def expire_upload_sessions(self) -> None:
        """Forget every upload session: later requests on them get ``404``."""
        with self._lock:
            self._upload_sessions.clear()

    # --- request handling --------------------------------------------------------------------

    def serve(self, request: HTTPRequest) -> Reply:
        """The server's entry point: the request in this emulator's terms, then :meth:`_handle`."""
        return self._handle(_Request(method=request.method, host=request.host,
                                     kind=HOST_KINDS.get(request.host), path=request.path,
                                     query={k: v[-1] for k, v in parse_qs(
                                         request.query, keep_blank_values=True).items()},
                                     headers=dict(request.headers), body=request.body))

    def _handle(self, request: _Request) -> Reply:
        route = self._classify(request)
        rule = self._faults.take(route.name, request.kind)
        ctx = _Context(self, request, route)
        try:
            reply = rule.action.run(ctx) if rule else ctx.process()
        except Exception as exc:  # noqa: BLE001 (a bug in the emulator or an action: say so)
            self.server_errors.append(exc)
            reply = Reply(500, [("Content-Type", "text/plain; charset=utf-8")],
                          ("emulator error:\n" + traceback.format_exc()).encode())
        request_id = str(uuid.uuid4())
        client_request_id = request.headers.get("client-request-id") or request_id
        if isinstance(reply, Reply):  # generic actions answer with the plain base Reply
            reply.finish(request_id, client_request_id)
        if reply.header("request-id") is None:
            reply.headers.append(("request-id", request_id))
        if reply.header("client-request-id") is None:
            reply.headers.append(("client-request-id", client_request_id))
        if request.kind == "login" and reply.header("x-ms-request-id") is None:
            reply.headers.append(("x-ms-request-id", request_id))
        dropped = reply.drop and reply.truncate is None
        record = JournalRecord(method=request.method, host=request.host, route=route.name,
                               path=request.path, query=dict(request.query),
                               form=_form(request) if request.headers.get("content-type", "")
                               .startswith("application/x-www-form-urlencoded") else None,
                               headers=dict(request.headers), body_len=len(request.body),
                               status=None if dropped else reply.status,
                               fault=repr(rule.action) if rule else None)
        with self._lock:
            self._journal.append(record)
        return reply

    def _process(self, request: _Request, route: _Route, partial: int | None) -> Reply:
        with self._lock:
            try:
                handler = getattr(self, route.handler)
                if route.name == "fragment":
                    return handler(request, route, partial)
                return handler(request, route)
            except GraphFailure as exc:
                return exc.reply

    def _classify(self, request: _Request) -> _Route:
        """The route a request is for (its name is what fault rules match)."""
        path, method = request.path, request.method
        if request.kind == "login":
            parts = path.strip("/").split("/")
            if path.startswith("/common/discovery/instance") and len(parts) == 3:
                return _Route("instanceDiscovery", "_r_instance_discovery")
            if len(parts) >= 3 and parts[-2:] == [".well-known", "openid-configuration"] and \
                    parts[1:-2] in ([], ["v2.0"]):
                return _Route("openidConfiguration", "_r_openid_configuration",
                              tenant=unquote(parts[0]))
            if len(parts) == 4 and parts[1:3] == ["oauth2", "v2.0"] and method == "POST":
                if parts[3] == "devicecode":
                    return _Route("devicecode", "_r_devicecode", tenant=unquote(parts[0]))
                if parts[3] == "token":
                    return _Route("token", "_r_token", tenant=unquote(parts[0]))
            return _UNKNOWN
        if request.kind in ("upload", "download"):
            prefix = "/up/" if request.kind == "upload" else "/dl/"
            token = path[len(prefix):] if path.startswith(prefix) else ""
            if not token or "/" in token:
                return _UNKNOWN
            if request.kind == "download":
                return _Route("download", "_r_download", token=token) \
                    if method in ("GET", "HEAD") else _UNKNOWN
            names = {"PUT": "fragment", "GET": "uploadStatus", "DELETE": "cancelUpload",
                     "POST": "commit"}
            if method not in names:
                return _UNKNOWN
            return _Route(names[method], f"_r_{names[method].lower()}", token=token)
        if request.kind == "graph":
            return self._classify_graph(path, method)
        return _UNKNOWN

    def _classify_graph(self, path: str, method: str) -> _Route:
        match = re.match(r"/v1\.0/(?:me/drive|drives/[^/:]+)(?=/|$)", path)
        if match is None:
            return _UNKNOWN
        rest = path[match.end():]
        if rest in ("", "/"):
            return _Route("drive", "_r_drive") if method == "GET" else _UNKNOWN
        if rest.startswith("/root") and (len(rest) == 5 or rest[5] in "/:"):
            item_id, tail = None, rest[5:]
        elif rest.startswith("/items/"):
            found = re.match(r"/items/([^/:]+)", rest)
            if found is None:
                return _UNKNOWN
            item_id, tail = unquote(found[1]), rest[found.end():]
        else:
            return _UNKNOWN
        rel = None
        if tail.startswith(":"):
            inner, _, tail = tail[1:].partition(":")
            rel = unquote(inner) if inner.strip("/") else None
        if tail in ("", "/"):
            action = ""
        elif tail.startswith("/") and "/" not in tail[1:]:
            action = tail[1:]
        else:
            return _UNKNOWN
        address = _Address(item_id=item_id, rel=rel)
        name = {("", "GET"): "item", ("", "DELETE"): "delete", ("children", "GET"): "children",
                ("content", "PUT"): "content", ("content", "GET"): "getContent",
                ("createUploadSession", "POST"): "createUploadSession"}.get((action, method))
        if name is None:
            return _UNKNOWN
        return _Route(name, "_r_" + name.lower(), address=address)

    # --- the store ---------------------------------------------------------------------------

    def _key(self, path: str) -> str:
        stripped = "/".join(p for p in path.strip("/").split("/") if p)
        return "/" + stripped.lower()

    def _used(self) -> int:
        return sum(len(item.data) for item in self._items.values() if not item.folder)

    def _next_id(self) -> str:
        self._id_counter += 1
        return self._item_id(self._id_counter)

    def _touch_ancestors(self, path: str) -> None:
        key = self._key(path)
        while key != "/":
            key = key.rsplit("/", 1)[0] or "/"
            parent = self._items.get(key)
            if parent is not None:
                parent.etag_version += 1

    def _ensure_folders(self, display: str) -> None:
        """Create the missing folders above ``display``.

        :raises GraphFailure: a file is in an ancestor position.
        """
        names = display.strip("/").split("/")[:-1]
        for depth in range(1, len(names) + 1):
            folder = "/" + "/".join(names[:depth])
            existing = self._items.get(folder.lower())
            if existing is None:
                now = now_stamp()
                self._items[folder.lower()] = _Item(id=self._next_id(), path=folder, folder=True,
                                                    created=now, modified=now)
                self._touch_ancestors(folder)
            elif not existing.folder:
                raise fail(409, "nameAlreadyExists",
                           f"A file named {existing.name!r} is where a folder of "
                           f"{display!r} would be.")

    def _display(self, path: str) -> str:
        """A path with the case of its existing ancestors (and of the item itself)."""
        names = path.strip("/").split("/")
        out: list[str] = []
        for depth in range(1, len(names) + 1):
            existing = self._items.get(("/" + "/".join(names[:depth])).lower())
            out.append(existing.name if existing is not None else names[depth - 1])
        return "/" + "/".join(out)

    def _free_name(self, display: str) -> str:
        parent, name = display.rsplit("/", 1)
        stem, dot, ext = name.rpartition(".")
        if not stem:
            stem, dot, ext = name, "", ""
        for number in range(1, 100_000):
            candidate = f"{parent}/{stem} {number}{dot}{ext}"
            if candidate.lower() not in self._items:
                return candidate
        raise AssertionError("no free name")  # pragma: no cover

    def _write(self, path: str, data: bytes, conflict: str, *,
               check_quota: bool = True) -> tuple[int, _Item]:
        """Write ``data`` at ``path`` with a conflict behaviour; (201 or 200, item).

        :raises GraphFailure: ``409 nameAlreadyExists`` or ``507 quotaLimitReached``.
        """
        display = self._display(path)
        existing = self._items.get(display.lower())
        if existing is not None:
            if conflict == "rename":
                display, existing = self._free_name(display), None
            elif conflict == "fail" or existing.folder:
                raise fail(409, "nameAlreadyExists",
                           "The specified item name already exists.")
        replaced = len(existing.data) if existing is not None else 0
        if check_quota and self._used() - replaced + len(data) > self._quota_total:
            raise fail(507, "quotaLimitReached", "Insufficient Space Available")
        self._ensure_folders(display)
        now = now_stamp()
        if existing is None:
            item = _Item(id=self._next_id(), path=display, folder=False, created=now,
                         modified=now)
            self._items[display.lower()] = item
            status = 201
        else:
            item, status = existing, 200
            item.etag_version += 1
            item.ctag_version += 1
        item.data = data
        item.hash = quick_xor_hash(data)
        item.mime = mimetypes.guess_type(item.name)[0] or "application/octet-stream"
        item.modified = now
        self._touch_ancestors(display)
        return status, item

    def _delete(self, key: str) -> None:
        for other in [k for k in self._items if k == key or k.startswith(key + "/")]:
            del self._items[other]
        self._touch_ancestors(key)

    def _download_url(self, item: _Item) -> str:
        token = self._download_tokens.get((item.id, item.ctag_version))
        if token is None:
            token = secrets.token_urlsafe(24)
            self._download_tokens[(item.id, item.ctag_version)] = token
            self._downloads[token] = (item.id, item.data, item.mime)
        return f"https://{HOSTS['download']}/dl/{token}"

    def _children(self, folder: _Item) -> list[_Item]:
        prefix = "/" if folder.path == "/" else folder.path.lower() + "/"
        return [item for key, item in self._items.items()
                if key != "/" and key.startswith(prefix) and "/" not in key[len(prefix):]]

    def _item_json(self, item: _Item) -> dict[str, Any]:
        value: dict[str, Any] = {
            "createdDateTime": item.created,
            "eTag": item.etag,
            "id": item.id,
            "lastModifiedDateTime": item.modified,
            "name": item.name,
            "webUrl": f"https://onedrive.live.com/?cid={self.drive_id}&id={item.id}",
            "fileSystemInfo": {"createdDateTime": item.created,
                               "lastModifiedDateTime": item.modified},
        }
        reference: dict[str, Any] = {"driveId": self.drive_id, "driveType": "personal"}
        if item.path != "/":
            parent_path = item.path.rsplit("/", 1)[0]
            parent = self._items[parent_path.lower() or "/"]
            reference.update(id=parent.id, name=parent.name,
                             path="/drive/root:" + parent_path)
        value["parentReference"] = reference
        if item.folder:
            children = self._children(item)
            prefix = "/" if item.path == "/" else item.path.lower() + "/"
            value["size"] = sum(len(i.data) for k, i in self._items.items()
                                if k.startswith(prefix) and not i.folder)
            value["folder"] = {"childCount": len(children)}
            if item.path == "/":
                value["root"] = {}
        else:
            value["cTag"] = item.ctag
            value["size"] = len(item.data)
            value["file"] = {"mimeType": item.mime, "hashes": {"quickXorHash": item.hash}}
            value["@microsoft.graph.downloadUrl"] = self._download_url(item)
        return value

    # --- Graph: authorization, addressing, preconditions -------------------------------------

    def _authorize(self, request: _Request) -> None:
        value = request.headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise GraphFailure(unauthenticated("Access token is empty."))
        found = self._access_tokens.get(token.strip())
        if found is None:
            raise GraphFailure(unauthenticated(
                "CompactToken parsing failed with error code: 80049217"))
        if found.expired or time.monotonic() >= found.deadline:
            raise GraphFailure(unauthenticated("Access token has expired or is not yet valid.",
                                               expired=True))

    def _target(self, address: _Address) -> tuple[str, _Item | None]:
        """The display path an address names and the item there (None: nothing yet).

        :raises GraphFailure: 404 for an unknown item id (or an id path below a file),
            400 for a bad name.
        """
        base = "/"
        if address.item_id is not None:
            anchor = self._by_id(address.item_id)
            if anchor is None:
                raise fail(404, "itemNotFound", "Item does not exist")
            if address.rel is None:
                return anchor.path, anchor
            if not anchor.folder:
                raise fail(404, "itemNotFound", "Item does not exist")
            base = anchor.path
        if address.rel is None:
            return "/", self._items["/"]
        names = _split_path(address.rel)
        path = "/" + "/".join([*base.strip("/").split("/"), *names]).strip("/")
        return self._display(path), self._items.get(path.lower())

    def _by_id(self, item_id: str) -> _Item | None:
        if item_id.lower() == "root":
            return self._items["/"]
        for item in self._items.values():
            if item.id.lower() == item_id.lower():
                return item
        return None

    def _existing(self, address: _Address | None) -> _Item:
        assert address is not None
        _, item = self._target(address)
        if item is None:
            raise fail(404, "itemNotFound", "Item does not exist")
        return item

    def _check_preconditions(self, request: _Request, item: _Item | None) -> None:
        """``If-Match`` (the item must exist with that eTag, or ``*``) and
        ``If-None-Match`` (``*``: nothing may exist; an eTag: it must not match).

        :raises GraphFailure: ``412 resourceModified``.
        """
        if_match = request.headers.get("if-match")
        if if_match is not None and (item is None or (
                if_match.strip() != "*" and not _same_etag(if_match, item.etag))):
            raise fail(412, "resourceModified", "ETag does not match current item's value")
        if_none_match = request.headers.get("if-none-match")
        if if_none_match is not None and item is not None and (
                if_none_match.strip() == "*" or _same_etag(if_none_match, item.etag)):
            raise fail(412, "resourceModified", "ETag does not match current item's value")

    def _conflict(self, value: Any, default: str) -> str:
        if value is None:
            return default
        if value not in _CONFLICT:
            raise fail(400, "invalidRequest",
                       f"Invalid value {value!r} for @microsoft.graph.conflictBehavior.")
        return str(value)

    # --- Entra ID routes ---------------------------------------------------------------------

    def _r_openid_configuration(self, request: _Request, route: _Route) -> Reply:
        if request.method != "GET":
            return oauth_error("invalid_request", "Use GET.", [], status=405)
        tenant = route.tenant or "common"
        v2 = "/v2.0/" in request.path
        base = f"https://{HOSTS['login']}/{tenant}/oauth2" + ("/v2.0" if v2 else "")
        issuer_tenant = "{tenantid}" if tenant.lower() in ("common", "organizations") \
            else self._tenant_id(tenant)
        return json_reply(200, {
            "token_endpoint": f"{base}/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post",
                                                      "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"https://{HOSTS['login']}/{tenant}/discovery"
                        f"{'/v2.0' if v2 else ''}/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"https://{HOSTS['login']}/{issuer_tenant}" + ("/v2.0" if v2 else "/"),
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": f"{base}/authorize",
            "device_authorization_endpoint": f"{base}/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce",
                                 "preferred_username", "name", "tid", "ver", "oid"],
            "tenant_region_scope": None,
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }, content_type=LOGIN_JSON)

    def _r_instance_discovery(self, request: _Request, route: _Route) -> Reply:
        if request.method != "GET":
            return oauth_error("invalid_request", "Use GET.", [], status=405)
        endpoint = request.query.get("authorization_endpoint",
                                     f"https://{HOSTS['login']}/common/oauth2/authorize")
        parts = urlsplit(endpoint)
        if parts.hostname not in _ALIASES:
            return oauth_error("invalid_instance", "AADSTS50049: Unknown or invalid instance.",
                               [50049])
        tenant = parts.path.strip("/").split("/")[0] or "common"
        version = "/v2.0" if "/v2.0/" in parts.path else ""
        return json_reply(200, {
            "tenant_discovery_endpoint": f"https://{HOSTS['login']}/{tenant}{version}"
                                         "/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": HOSTS["login"],
                          "preferred_cache": "login.windows.net", "aliases": _ALIASES}],
        }, content_type=LOGIN_JSON)

    def _unknown_client(self, client_id: str | None) -> Reply:
        return oauth_error("unauthorized_client",
                           f"AADSTS700016: Application with identifier '{client_id}' was not "
                           "found in the directory.", [700016])

    def _r_devicecode(self, request: _Request, route: _Route) -> Reply:
        form = _form(request)
        if form.get("client_id") != self.client_id:
            return self._unknown_client(form.get("client_id"))
        scope = form.get("scope", "").strip()
        if not scope:
            return oauth_error("invalid_request", "AADSTS900144: The request body must contain "
                               "the following parameter: 'scope'.", [900144])
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
        user_code = "".join(secrets.choice(alphabet) for _ in range(9))
        code = _DeviceCode(device_code="DAQABAAEAAAD" + secrets.token_urlsafe(96),
                           user_code=user_code, tenant=route.tenant or "common", scope=scope,
                           deadline=time.monotonic() + self.device_code_ttl,
                           state="approved" if self.auto_approve else "pending")
        self._device_codes[code.device_code] = code
        page = "https://www.microsoft.com/link" if code.tenant.lower() == "consumers" \
            else "https://microsoft.com/devicelogin"
        return json_reply(200, {
            "user_code": user_code, "device_code": code.device_code, "verification_uri": page,
            "expires_in": int(self.device_code_ttl), "interval": self.device_code_interval,
            "message": f"To sign in, use a web browser to open the page {page} and enter the "
                       f"code {user_code} to authenticate.",
        }, content_type=LOGIN_JSON)

    def _r_token(self, request: _Request, route: _Route) -> Reply:
        form = _form(request)
        grant = form.get("grant_type")
        if form.get("client_id") != self.client_id:
            return self._unknown_client(form.get("client_id"))
        tenant = route.tenant or "common"
        if grant == _DEVICE_GRANT:
            code = self._device_codes.get(form.get("device_code", ""))
            if code is None or code.state == "redeemed":
                return oauth_error("invalid_grant", "AADSTS70000: The provided value for the "
                                   "input parameter 'device_code' is not valid.", [70000])
            if time.monotonic() >= code.deadline:
                return oauth_error("expired_token", "AADSTS70020: The provided value for the "
                                   "input parameter 'device_code' is not valid. This device "
                                   "code has expired.", [70020])
            if code.state == "pending":
                return oauth_error("authorization_pending", "AADSTS70016: OAuth 2.0 device flow "
                                   "error. Authorization is pending. Continue polling.", [70016])
            if code.state == "declined":
                return oauth_error("authorization_declined", "AADSTS70000: The user declined "
                                   "to authorize the application.", [70000])
            code.state = "redeemed"
            return self._tokens(code.tenant, code.scope, form.get("client_info") == "1")
        if grant == "refresh_token":
            token = self._refresh_tokens.get(form.get("refresh_token", ""))
            if token is None or not token.valid:
                return invalid_grant_reply()
            if self.rotate_refresh_tokens:
                token.valid = False
            scope = form.get("scope", "").strip() or token.scope
            return self._tokens(tenant, scope, form.get("client_info") == "1")
        return oauth_error("unsupported_grant_type", f"AADSTS70003: The app requested an "
                           f"unsupported grant type {grant!r}.", [70003])

    def _tokens(self, tenant: str, scope: str, client_info: bool) -> Reply:
        """A token response shaped so that MSAL caches an account."""
        requested = scope.split()
        tenant_id = self._tenant_id(tenant)
        now = int(time.time())
        ttl = int(self.access_token_ttl)
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join(s for s in requested if s != "offline_access"),
            "expires_in": ttl,
            "ext_expires_in": ttl,
            "access_token": self._new_access_token(),
        }
        if "offline_access" in requested:
            refresh = "M.C5" + secrets.token_urlsafe(64)
            self._refresh_tokens[refresh] = _RefreshToken(tenant, scope)
            body["refresh_token"] = refresh
        if "openid" in requested:
            claims = {"ver": "2.0", "iss": f"https://{HOSTS['login']}/{tenant_id}/v2.0",
                      "sub": b64url(self.user_id.encode()), "aud": self.client_id,
                      "exp": now + ttl, "iat": now, "nbf": now, "name": self.display_name,
                      "preferred_username": self.username, "oid": self.user_id,
                      "tid": tenant_id}
            header = {"typ": "JWT", "alg": "none"}
            body["id_token"] = (b64url(json.dumps(header).encode()) + "."
                                + b64url(json.dumps(claims).encode()) + ".")
        if client_info:
            body["client_info"] = b64url(json.dumps({"uid": self.user_id,
                                                     "utid": tenant_id}).encode())
        return json_reply(200, body, content_type=LOGIN_JSON)

    # --- Graph routes ------------------------------------------------------------------------

    def _r_unknown(self, request: _Request, route: _Route) -> Reply:
        if request.kind is None:
            return Reply(400, [("Content-Type", "text/plain; charset=utf-8")],
                         f"the emulator serves {', '.join(HOSTS.values())}; "
                         f"not Host {request.host!r}".encode())
        if request.kind == "login":
            return oauth_error("invalid_request", f"AADSTS90000: no endpoint at {request.path}",
                               [90000], status=404)
        if request.kind == "graph":
            return graph_error(400, "invalidRequest",
                               f"Invalid request: {request.method} {request.path} is not "
                               "served by the emulator.")
        return graph_error(404, "itemNotFound", f"No {request.method} at {request.path}.")

    def _r_drive(self, request: _Request, route: _Route) -> Reply:
        self._authorize(request)
        used, total = self._used(), self._quota_total
        ratio = used / total if total else 1.0
        state = ("exceeded" if ratio >= 1 else "critical" if ratio >= 0.99
                 else "nearing" if ratio >= 0.9 else "normal")
        return json_reply(200, {
            "id": self.drive_id, "driveType": "personal", "name": "OneDrive",
            "owner": {"user": {"displayName": self.display_name, "id": self.drive_id}},
            "quota": {"deleted": 0, "remaining": max(0, total - used), "state": state,
                      "total": total, "used": used},
        })

    def _r_item(self, request: _Request, route: _Route) -> Reply:
        self._authorize(request)
        return json_reply(200, self._item_json(self._existing(route.address)))

    def _r_children(self, request: _Request, route: _Route) -> Reply:
        self._authorize(request)
        item = self._existing(route.address)
        children = self._children(item) if item.folder else []
        return json_reply(200, {"value": [self._item_json(c) for c in children]})

    def _r_delete(self, request: _Request, route: _Route) -> Reply:
        self._authorize(request)
        item = self._existing(route.address)
        if item.path == "/":
            raise fail(403, "accessDenied", "The root of the drive cannot be deleted.")
        self._check_preconditions(request, item)
        self._delete(item.path.lower())
        return Reply(204)

    def _r_getcontent(self, request: _Request, route: _Route) -> Reply:
        self._authorize(request)
        item = self._existing(route.address)
        if item.folder:
            raise fail(400, "invalidRequest", "A folder has no content to download.")
        return Reply(302, [("Location", self._download_url(item))])

    def _r_content(self, request: _Request, route: _Route) -> Reply:
        self._authorize(request)
        assert route.address is not None
        path, existing = self._target(route.address)
        by_id = route.address.rel is None
        if path == "/" or (existing is not None and existing.folder and by_id):
            raise fail(400, "invalidRequest", "Content can only be uploaded to a file.")
        if len(request.body) > self.simple_upload_limit:
            raise fail(413, "invalidRequest", f"A simple upload takes at most "
                       f"{self.simple_upload_limit} bytes; use an upload session.",
                       inner="maxFileSizeExceeded")
        self._check_preconditions(request, existing)
        conflict = "replace" if by_id else self._conflict(
            request.query.get("@microsoft.graph.conflictBehavior"), "replace")
        status, item = self._write(path, request.body, conflict)
        return json_reply(status, self._item_json(item))

    def _r_createuploadsession(self, request: _Request, route: _Route) -> Reply:
        self._authorize(request)
        assert route.address is not None
        try:
            body = json.loads(request.body) if request.body.strip() else {}
        except ValueError:
            raise fail(400, "invalidRequest", "The request body is not JSON.") from None
        if not isinstance(body, dict) or not isinstance(body.get("item", {}), dict):
            raise fail(400, "invalidRequest", "Expected {\"item\": {...}}.")
        spec = body.get("item", {})
        path, existing = self._target(route.address)
        by_id = route.address.rel is None
        if path == "/" or (existing is not None and existing.folder and by_id):
            raise fail(400, "invalidRequest", "An upload session must target a file.")
        conflict = "replace" if by_id else self._conflict(
            spec.get("@microsoft.graph.conflictBehavior",
                     request.query.get("@microsoft.graph.conflictBehavior")), "fail")
        file_size = spec.get("fileSize")
        if file_size is not None and (isinstance(file_size, bool)
                                      or not isinstance(file_size, int) or file_size < 0):
            raise fail(400, "invalidRequest", f"fileSize {file_size!r} is not a byte count.")
        defer = body.get("deferCommit", False)
        if not isinstance(defer, bool):
            raise fail(400, "invalidRequest", "deferCommit must be true or false.")
        self._check_preconditions(request, existing)
        if existing is not None and (existing.folder or conflict == "fail"):
            raise fail(409, "nameAlreadyExists", "The specified item name already exists.")
        replaced = len(existing.data) if existing is not None else 0
        if file_size is not None and file_size > self._quota_total - self._used() + replaced:
            raise fail(507, "quotaLimitReached", "Insufficient Space Available")
        if existing is not None and conflict == "replace" and self.etag_bump_on_session:
            existing.etag_version += 1  # OneDrive does this; the cTag stays
        token = secrets.token_urlsafe(32)
        session = _UploadSession(
            token=token, path=path, conflict=conflict, file_size=file_size, defer=defer,
            deadline=time.monotonic() + self.upload_session_ttl,
            expiration=stamp_after(self.upload_session_ttl),
            if_match=existing.etag if existing is not None and "if-match" in request.headers
            else None,
            if_none_match="if-none-match" in request.headers and existing is None)
        self._upload_sessions[token] = session
        return json_reply(200, {"uploadUrl": f"https://{HOSTS['upload']}/up/{token}",
                                **session.status()})

    # --- the upload host ---------------------------------------------------------------------

    def _session_for(self, request: _Request, route: _Route) -> _UploadSession:
        if self.strict and "authorization" in request.headers:
            raise fail(401, "unauthenticated", "The upload URL is pre-authenticated: a request "
                       "to it must not carry an Authorization header.")
        session = self._upload_sessions.get(route.token or "")
        if session is not None and time.monotonic() >= session.deadline:
            del self._upload_sessions[session.token]
            session = None
        if session is None:
            raise fail(404, "itemNotFound", "The upload session was not found.",
                       inner="uploadSessionNotFound")
        return session

    def _r_fragment(self, request: _Request, route: _Route, partial: int | None) -> Reply:
        session = self._session_for(request, route)
        if "if-match" in request.headers or "if-none-match" in request.headers:
            # Honoured against the target as it is now: after the eTag bump of
            # createUploadSession, the eTag read before the session fails here.
            self._check_preconditions(request, self._items.get(session.path.lower()))
        if self.strict and "content-length" not in request.headers:
            raise fail(411, "invalidRequest", "A fragment needs a Content-Length header.")
        header = request.headers.get("content-range", "")
        match = re.fullmatch(r"\s*bytes (\d+)-(\d+)/(\d+)\s*", header)
        if match is None:
            raise fail(400, "invalidRequest", f"Content-Range {header!r} is not "
                       "'bytes start-end/total'.", inner="invalidContentRangeHeader")
        start, end, total = (int(g) for g in match.groups())
        body = request.body
        if end < start or end >= total:
            raise fail(400, "invalidRequest", f"Content-Range {header!r} is not a range "
                       "within the total.", inner="invalidContentRangeHeader")
        if end - start + 1 != len(body):
            raise fail(400, "invalidRequest", "The Content-Range header length does not match "
                       f"the provided number of bytes ({end - start + 1} != {len(body)}).",
                       inner="fragmentLengthMismatch")
        if len(body) >= self.max_fragment_bytes:
            raise fail(413, "invalidRequest", f"A fragment must be smaller than "
                       f"{self.max_fragment_bytes} bytes.", inner="maxFragmentLengthExceeded")
        expected_total = session.total if session.total is not None else session.file_size
        if expected_total is not None and total != expected_total:
            raise fail(400, "invalidRequest", f"The declared total size {total} differs from "
                       f"the session's {expected_total}.", inner="fragmentLengthMismatch")
        received = len(session.data)
        if start != received:
            inner = "fragmentOverlap" if start < received else "fragmentOutOfOrder"
            raise fail(416, "invalidRange", f"The uploaded fragment starts at {start}; the "
                       f"next expected byte is {received}.", inner=inner)
        final = end + 1 == total
        if self.strict and not final and len(body) % FRAGMENT_ALIGN \
                and (end + 1) % FRAGMENT_ALIGN:
            raise fail(400, "invalidRequest", f"An intermediate fragment must be a multiple of "
                       f"{FRAGMENT_ALIGN} bytes (320 KiB); this one has {len(body)}.",
                       inner="invalidFragmentLength")
        session.total = total
        if partial is not None and partial < len(body):
            body, final = body[:partial], False
        session.data += body
        session.deadline = time.monotonic() + self.upload_session_ttl
        session.expiration = stamp_after(self.upload_session_ttl)
        if not final or session.defer:
            return json_reply(202, session.status())
        return self._commit(session)

    def _commit(self, session: _UploadSession) -> Reply:
        """Write a complete session's bytes; the session stays if the commit fails."""
        current = self._items.get(session.path.lower())
        if session.if_match is not None and (current is None or current.etag != session.if_match):
            raise fail(412, "resourceModified", "ETag does not match current item's value")
        if session.if_none_match and current is not None:
            raise fail(412, "resourceModified", "ETag does not match current item's value")
        status, item = self._write(session.path, bytes(session.data), session.conflict)
        del self._upload_sessions[session.token]
        return json_reply(status, self._item_json(item))

    def _r_uploadstatus(self, request: _Request, route: _Route) -> Reply:
        return json_reply(200, self._session_for(request, route).status())

    def _r_cancelupload(self, request: _Request, route: _Route) -> Reply:
        session = self._session_for(request, route)
        del self._upload_sessions[session.token]
        return Reply(204)

    def _r_commit(self, request: _Request, route: _Route) -> Reply:
        session = self._session_for(request, route)
        if not session.complete:
            raise fail(400, "invalidRequest", "The upload session is missing bytes.",
                       inner="uploadSessionIncomplete")
        return self._commit(session)

    # --- the download host -------------------------------------------------------------------

    def _r_download(self, request: _Request, route: _Route) -> Reply:
        if self.strict and "authorization" in request.headers:
            raise fail(401, "unauthenticated", "The download URL is pre-authenticated: a "
                       "request to it must not carry an Authorization header.")
        found = self._downloads.get(route.token or "")
        if found is None or self._by_id(found[0]) is None:
            raise fail(404, "itemNotFound", "The download link is unknown or its item is gone.")
        _, data, mime = found
        headers = [("Content-Type", mime), ("Accept-Ranges", "bytes")]
        wanted = request.headers.get("range")
        span = parse_range(wanted, len(data)) if wanted else None
        if span == "unsatisfiable":
            return Reply(416, [("Content-Range", f"bytes */{len(data)}")])
        if span is None:
            return Reply(200, headers, data)
        start, end = span
        headers.append(("Content-Range", f"bytes {start}-{end}/{len(data)}"))
        return Reply(206, headers, data[start:end + 1])


class _Context:
    """The request as fault actions see it (see :class:`FaultContext`)."""

    def __init__(self, emulator: OneDriveEmulator, request: _Request, route: _Route) -> None:
        self.route = route.name
        self.host = request.kind
        self._emulator = emulator
        self._request = request
        self._route = route

    def process(self, *, partial: int | None = None) -> Reply:
        return self._emulator._process(self._request, self._route, partial)

    def drop_upload_session(self) -> None:
        if self._route.token is not None and self.host == "upload":
            with self._emulator._lock:
                self._emulator._upload_sessions.pop(self._route.token, None)
