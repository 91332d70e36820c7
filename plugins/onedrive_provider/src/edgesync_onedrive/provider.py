"""The OneDrive provider: the edgesync contract on Microsoft Graph, signed in with MSAL.

- Conditional writes on Graph's side: a simple upload carries ``If-Match``
  with the eTag the edge last saw (412 otherwise), a create carries
  ``@microsoft.graph.conflictBehavior=fail`` (409 if a file appeared).
- Files above ``upload_threshold`` go through an upload session in fragments
  that are multiples of 320 KiB and under 60 MiB; the upload URL is
  pre-authenticated and gets **no** ``Authorization`` header. After a lost
  response the session asks Graph for ``nextExpectedRanges`` and continues
  from there (which need not be 320 KiB aligned); a session that is gone
  (404) starts over.
- OneDrive changes an item's eTag as soon as an upload session is created on
  it, so ``If-Match`` can only guard the session's creation. Before the last
  fragment commits, the provider checks that the item's content tag (cTag) is
  still the one it replaced; another client's change in between is a
  conflict, not something to overwrite.
- Downloads follow the pre-authenticated redirect without the bearer token,
  and are checked against the item's QuickXorHash.
- Tokens: MSAL's cache (written by ``edgesync auth onedrive``) is loaded at
  start and written back after every call that changed it (a refreshed token
  rotates the refresh token); a 401 refreshes once and retries. A refusal
  (``invalid_grant``) is an :class:`~edgesync.errors.AuthError` saying how to
  sign in again. Nothing here needs ``cryptography``.
"""

from __future__ import annotations

import os
import threading
import urllib.parse
from pathlib import Path
from typing import Any, BinaryIO

import attrs

from edgesync.errors import (
    AuthError,
    ConfigError,
    NotFoundError,
    RevisionConflictError,
    ServiceUnavailableError,
)
from edgesync.providers import Provider, UploadSession
from edgesync.types import ProviderFacts, RemoteEntry, Revision, UploadInfo
from edgesync_onedrive._convert import entry_from_item
from edgesync_onedrive._errors import RELINK, auth_error, raise_for_graph, translate_errors
from edgesync_onedrive.quickxorhash import QuickXorHasher

__all__ = ["FRAGMENT_UNIT", "GRAPH", "SCOPES", "OneDriveOptions", "OneDriveProvider"]

#: Graph's base URL.
GRAPH = "https://graph.microsoft.com/v1.0"
#: The delegated permission the edge needs (MSAL adds openid, profile, offline_access).
SCOPES = ["Files.ReadWrite"]
#: Upload-session fragments are multiples of this (320 KiB).
FRAGMENT_UNIT = 320 * 1024
_MiB = 1 << 20


def _fragment_size(instance: Any, attribute: Any, value: int) -> None:
    if value <= 0 or value % FRAGMENT_UNIT or value >= 60 * _MiB:
        raise ValueError(f"{attribute.name} must be a multiple of 320 KiB under 60 MiB, "
                         f"got {value}")


@attrs.frozen(kw_only=True)
class OneDriveOptions:
    """Options of the ``onedrive`` provider (the edge's ``[provider.options]`` table).

    :ivar client_id: the application (client) ID of the app registration.
    :ivar token_cache: the MSAL token cache ``edgesync auth onedrive`` wrote
        (rewritten as tokens rotate; keep it readable by the edge's user only).
    :ivar authority: the sign-in authority (``.../consumers`` for personal
        accounts, ``.../organizations`` or a tenant for work accounts).
    :ivar root: the OneDrive folder synced files go into (``""``: the top).
    :ivar upload_threshold: files larger than this go up in upload sessions.
    :ivar fragment_size: bytes per fragment (a multiple of 320 KiB, under 60 MiB).
    :ivar timeout: seconds to wait for OneDrive per request.
    :ivar emulator: the URL of an :mod:`edgesync_onedrive.testing` emulator to
        talk to instead of Microsoft (offline tests and the demo).
    """

    client_id: str = attrs.field(metadata={"help": "the app registration's client ID"})
    token_cache: str = attrs.field(metadata={"help": "the file 'edgesync auth onedrive' wrote"})
    authority: str = attrs.field(default="https://login.microsoftonline.com/consumers",
                                 metadata={"help": "sign-in authority"})
    root: str = attrs.field(default="", metadata={"help": "OneDrive folder to sync into"})
    upload_threshold: int = attrs.field(default=4 * _MiB,
                                        metadata={"help": "larger files use upload sessions"})
    fragment_size: int = attrs.field(default=32 * FRAGMENT_UNIT, validator=_fragment_size,
                                     metadata={"help": "bytes per upload-session fragment"})
    timeout: float = attrs.field(default=100.0, metadata={"help": "seconds per request"})
    emulator: str = attrs.field(default="", metadata={"help": "URL of a local emulator"})


class TokenSource:
    """Access tokens from MSAL's cache, which is written back whenever it changes.

    :param options: the provider's options (client, authority, cache file).
    :param session: the HTTP client MSAL uses.
    """

    def __init__(self, options: OneDriveOptions, session: Any) -> None:
        import msal

        self.path = Path(options.token_cache).expanduser()
        self.cache = msal.SerializableTokenCache()
        try:
            self.cache.deserialize(self.path.read_text("utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{self.path} does not exist: {RELINK}") from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{self.path} cannot be read ({exc}): {RELINK}") from exc
        self.app = msal.PublicClientApplication(options.client_id, authority=options.authority,
                                                token_cache=self.cache, http_client=session)
        self._lock = threading.Lock()

    def token(self, *, force: bool = False) -> str:
        """A valid access token (refreshed when needed, or when ``force``).

        :raises AuthError: no signed-in account, or Microsoft refused the refresh.
        :raises ServiceUnavailableError: the sign-in service failed.
        """
        with self._lock, translate_errors():
            accounts = self.app.get_accounts()
            if not accounts:
                raise AuthError(f"{self.path} holds no signed-in account: {RELINK}")
            result = self.app.acquire_token_silent_with_error(SCOPES, accounts[0],
                                                              force_refresh=force)
            self._save()
        if not result or "access_token" not in result:
            raise auth_error(result or {"error": "interaction_required",
                                        "error_description": "no token in the cache"})
        return result["access_token"]

    def _save(self) -> None:
        if self.cache.has_state_changed:
            save_cache(self.path, self.cache.serialize())
            self.cache.has_state_changed = False


def save_cache(path: Path, text: str) -> None:
    """Write an MSAL cache atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)


class OneDriveProvider(Provider):
    """One signed-in OneDrive.

    :param options: the provider's options.
    :param session: the ``requests`` session for Graph, the upload and
        download hosts and MSAL (tests inject the emulator's; default: a new
        session, or the emulator's when ``options.emulator`` is set).
    :raises ConfigError: no usable token cache.
    """

    name = "onedrive"

    def __init__(self, options: OneDriveOptions, *, session: Any = None) -> None:
        import requests

        if session is None:
            if options.emulator:
                from edgesync_onedrive.testing import loopback_session

                session = loopback_session(options.emulator)
            else:
                session = requests.Session()
        self.options = options
        self.session = session
        self.tokens = TokenSource(options, session)
        self._root = options.root.strip("/")
        self.facts = ProviderFacts(hash_types={"quickxor"}, case_insensitive=True,
                                   invalid_path_chars='"*:<>?|', max_path_length=400,
                                   max_single_put_size=options.upload_threshold)

    # --- Graph -----------------------------------------------------------------

    def item_url(self, path: str, suffix: str = "") -> str:
        """The Graph URL of the item at ``path`` (``.../root:/a/b.docx:/suffix``)."""
        full = f"{self._root}/{path}" if self._root else path
        quoted = "/".join(urllib.parse.quote(part, safe="") for part in full.split("/"))
        return f"{GRAPH}/me/drive/root:/{quoted}" + (f":/{suffix}" if suffix else "")

    def graph(self, method: str, url: str, path: str, **kwargs: Any) -> Any:
        """One authenticated Graph request; a 401 refreshes the token once and retries.

        :returns: the response (errors are raised, see :func:`raise_for_graph`).
        """
        headers = dict(kwargs.pop("headers", None) or {})
        for attempt in (0, 1):
            headers["Authorization"] = f"Bearer {self.tokens.token(force=bool(attempt))}"
            with translate_errors(path):
                response = self.session.request(method, url, headers=headers,
                                                timeout=self.options.timeout,
                                                allow_redirects=False, **kwargs)
            if response.status_code != 401 or attempt:
                break  # an expired token, or "Unable to initialize RPS": refresh, once
        raise_for_graph(response, path)
        return response

    def plain(self, method: str, url: str, path: str, **kwargs: Any) -> Any:
        """A request to a pre-authenticated URL (upload session, download): no bearer token."""
        with translate_errors(path):
            response = self.session.request(method, url, timeout=self.options.timeout,
                                            allow_redirects=False, **kwargs)
        raise_for_graph(response, path)
        return response

    # --- reading -------------------------------------------------------------

    def stat(self, path: str) -> RemoteEntry:
        """See :meth:`edgesync.providers.Provider.stat`."""
        return entry_from_item(path, self._item(path))

    def _item(self, path: str) -> dict[str, Any]:
        return self.graph("GET", self.item_url(path), path).json()

    def get(self, path: str, dest: BinaryIO) -> RemoteEntry:
        """See :meth:`edgesync.providers.Provider.get`; checks the QuickXorHash."""
        entry = self.stat(path)
        redirect = self.graph("GET", self.item_url(path, "content"), path)
        location = redirect.headers.get("Location")
        if redirect.status_code not in (301, 302, 303, 307) or not location:
            raise ServiceUnavailableError(f"{path}: OneDrive gave no download address",
                                          path=path)
        response = self.plain("GET", location, path, stream=True)
        hasher = QuickXorHasher()
        with translate_errors(path):
            try:
                for chunk in response.iter_content(_MiB):
                    hasher.update(chunk)
                    dest.write(chunk)
            finally:
                response.close()
        if entry.hashes.get("quickxor") not in (None, hasher.hexdigest()):
            raise ServiceUnavailableError(f"{path}: the download from OneDrive was cut short, "
                                          "damaged, or changed meanwhile (QuickXorHash)",
                                          path=path)
        return entry

    # --- writing -------------------------------------------------------------

    def put(self, path: str, src: BinaryIO, info: UploadInfo, *,
            if_match: Revision | None = None, create_only: bool = False) -> RemoteEntry:
        """See :meth:`edgesync.providers.Provider.put`.

        Content above ``upload_threshold`` goes through an upload session.
        """
        if info.size > self.options.upload_threshold:
            session = self.open_upload_session(path, info, if_match=if_match,
                                               create_only=create_only)
            return session.send_all(src, info.size, self.options.fragment_size)
        data = src.read(info.size)
        headers = {"Content-Type": "application/octet-stream"}
        params = {}
        if create_only:
            params["@microsoft.graph.conflictBehavior"] = "fail"
        elif if_match is not None:
            headers["If-Match"] = if_match
        response = self.graph("PUT", self.item_url(path, "content"), path, data=data,
                              headers=headers, params=params)
        return self._checked(path, response.json(), info)

    def _checked(self, path: str, item: dict[str, Any], info: UploadInfo) -> RemoteEntry:
        entry = entry_from_item(path, item)
        expected = info.hashes.get("quickxor")
        if expected and entry.hashes.get("quickxor") not in (None, expected):
            raise ServiceUnavailableError(f"{path}: OneDrive stored other bytes than were sent "
                                          "(QuickXorHash mismatch)", path=path)
        return entry

    def delete(self, path: str, *, if_match: Revision | None = None) -> None:
        """See :meth:`edgesync.providers.Provider.delete`."""
        headers = {"If-Match": if_match} if if_match is not None else {}
        if if_match is not None:
            self.stat(path)  # NotFoundError for an absent file, not a 412
        self.graph("DELETE", self.item_url(path), path, headers=headers)

    def open_upload_session(self, path: str, info: UploadInfo, *,
                            if_match: Revision | None = None,
                            create_only: bool = False) -> UploadSession:
        """See :meth:`edgesync.providers.Provider.open_upload_session`."""
        return _GraphUploadSession(self, path, info, if_match, create_only)


class _GraphUploadSession(UploadSession):
    """A Graph upload session: aligned fragments to a pre-authenticated URL.

    Pieces need not be aligned: the unaligned end of a piece is held here
    until the next piece (or the last) completes a multiple of 320 KiB, and
    :attr:`offset` counts it. After :meth:`resume`, held bytes are dropped and
    the offset is Graph's ``nextExpectedRanges``, aligned or not.
    """

    def __init__(self, provider: OneDriveProvider, path: str, info: UploadInfo,
                 if_match: Revision | None, create_only: bool) -> None:
        self._provider, self._path, self._info = provider, path, info
        self._if_match, self._create_only = if_match, create_only
        self._sent = 0  # bytes Graph has
        self._held = b""  # the unaligned end of the last piece
        self._item: dict[str, Any] | None = None
        self._ctag: str | None = None
        self._conflict: RevisionConflictError | None = None
        self._url: str | None = None
        try:
            if if_match is not None:
                # The eTag changes once the session exists; the content tag does not.
                current = provider._item(path)
                if current.get("eTag") != if_match:
                    raise RevisionConflictError(
                        f"{path} is at revision {current.get('eTag')} in OneDrive, not "
                        f"{if_match}", path=path, current=current.get("eTag"))
                self._ctag = current.get("cTag")
            self._url = self._create()
        except RevisionConflictError as exc:
            self._conflict = exc  # the contract reports preconditions at finish()
        except NotFoundError as exc:
            self._conflict = RevisionConflictError(
                f"{path} was to be replaced at revision {if_match}, but it no longer exists",
                path=path, current=None)
            self._conflict.__cause__ = exc

    def _create(self) -> str:
        behaviour = "fail" if self._create_only else "replace"  # If-Match guards a replace
        body = {"item": {"@microsoft.graph.conflictBehavior": behaviour}}
        headers = {"If-Match": self._if_match} if self._if_match is not None else {}
        response = self._provider.graph("POST", self._provider.item_url(
            self._path, "createUploadSession"), self._path, json=body, headers=headers)
        return response.json()["uploadUrl"]

    @property
    def offset(self) -> int:
        return self._sent + len(self._held)

    def append(self, data: bytes) -> None:
        total = self._info.size
        data = self._held + bytes(data[:total - self.offset])
        self._held = b""
        if self._conflict is not None:
            self._held = data  # nothing is sent; finish() reports the conflict
            return
        final = self._sent + len(data) >= total
        limit = self._provider.options.fragment_size
        while data:
            if final and len(data) <= limit:
                piece = data
            else:
                piece = data[:min(limit, len(data) - len(data) % FRAGMENT_UNIT)]
                if not piece:
                    self._held = data  # less than 320 KiB: wait for more
                    return
            if final and piece is data:
                self._check_unchanged()
            before = self._sent
            self._send(piece, total)
            if self._item is not None:
                return
            # Graph may keep only part of a fragment: go on from what it has.
            data = data[self._sent - before:]

    def _send(self, piece: bytes, total: int) -> None:
        end = self._sent + len(piece) - 1
        try:
            response = self._provider.plain(
                "PUT", self._url, self._path, data=piece,
                headers={"Content-Range": f"bytes {self._sent}-{end}/{total}"})
        except NotFoundError as exc:  # expired or deleted: resume() starts a new one
            raise ServiceUnavailableError(f"{self._path}: the OneDrive upload session is "
                                          "gone; starting the upload again",
                                          path=self._path) from exc
        if response.status_code in (200, 201):
            self._item = response.json()
            self._sent = total
        else:
            self._sent = self._next_expected(response.json(), self._sent + len(piece))

    def _check_unchanged(self) -> None:
        """Before the commit: is the item still the content this upload replaces?"""
        if self._ctag is None:
            return
        current = self._provider._item(self._path)
        if current.get("cTag") != self._ctag:
            raise RevisionConflictError(f"{self._path} changed in OneDrive during the upload",
                                        path=self._path, current=current.get("eTag"))

    @staticmethod
    def _next_expected(status: dict[str, Any], default: int) -> int:
        ranges = status.get("nextExpectedRanges") or []
        if not ranges:
            return default
        return int(str(ranges[0]).split("-")[0])

    def resume(self) -> int:
        """Ask the upload URL which bytes it still expects (a gone session starts over)."""
        self._held = b""
        if self._conflict is not None:
            return self._sent
        try:
            status = self._provider.plain("GET", self._url, self._path).json()
        except NotFoundError:
            self._url, self._sent = self._create(), 0
            return 0
        self._sent = self._next_expected(status, self._sent)
        return self._sent

    def finish(self) -> RemoteEntry:
        if self._conflict is not None:
            raise self._conflict
        if self._item is None and self._held and self.offset == self._info.size:
            held, self._held = self._held, b""
            self._check_unchanged()
            self._send(held, self._info.size)
        if self._item is None:
            raise ServiceUnavailableError(f"{self._path}: the upload session is not complete "
                                          f"({self.offset} of {self._info.size} bytes)",
                                          path=self._path)
        return self._provider._checked(self._path, self._item, self._info)

    def abort(self) -> None:
        if self._item is None and self._url is not None:
            url, self._url = self._url, None
            try:
                self._provider.plain("DELETE", url, self._path)
            except Exception:  # best effort: sessions expire by themselves
                pass
