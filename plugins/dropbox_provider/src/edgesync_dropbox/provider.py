"""The Dropbox provider: the edgesync contract on top of the official SDK.

- Writes are conditional on Dropbox's side: ``WriteMode.update(rev)`` for
  ``if_match``, ``WriteMode.add`` for ``create_only``, both with
  ``strict_conflict`` so that a stale revision is a conflict even when the
  content happens to be the same. Nothing is ever uploaded with
  ``overwrite`` unless the caller asked for no precondition.
- Files above ``upload_threshold`` go through upload sessions in
  ``chunk_size`` pieces; after a lost response the session asks Dropbox where
  it stands (``correct_offset``) and continues from there, never from 0.
- The SDK fills in the content hash of every request body (its default), so
  Dropbox checks each piece; downloads are checked against the content hash
  of their metadata.
- The SDK retries 5xx itself a few times; rate limits are *not* retried in
  the SDK (``max_retries_on_rate_limit``, default 0): they surface as
  :class:`~edgesync.errors.RateLimitedError` with ``retry_after``, and the
  edge's bounded policy waits. The access token is refreshed by the SDK from
  the refresh token; a refresh token Dropbox refuses becomes an
  :class:`~edgesync.errors.AuthError` that says how to re-link.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, BinaryIO

import attrs

from edgesync.errors import ConfigError, RevisionConflictError, ServiceUnavailableError
from edgesync.providers import Provider, UploadSession
from edgesync.types import ProviderFacts, RemoteEntry, Revision, UploadInfo
from edgesync_dropbox._convert import entry_from_metadata
from edgesync_dropbox._errors import (
    RELINK,
    SessionExpiredError,
    SessionOffsetError,
    translate_errors,
)

__all__ = ["DropboxOptions", "DropboxProvider"]

_MiB = 1 << 20


def _positive_multiple_of_4mib(instance: Any, attribute: Any, value: int) -> None:
    if value <= 0 or value % (4 * _MiB):
        raise ValueError(f"{attribute.name} must be a positive multiple of 4 MiB, got {value}")


@attrs.frozen(kw_only=True)
class DropboxOptions:
    """Options of the ``dropbox`` provider (the edge's ``[provider.options]`` table).

    :ivar app_key: the Dropbox app's key (a public identifier; no secret is used).
    :ivar token_file: the JSON file ``edgesync auth dropbox`` wrote, holding the
        refresh token (keep it readable by the edge's user only).
    :ivar root: the Dropbox folder synced files go into (``""``: the top).
    :ivar upload_threshold: files larger than this go up in upload sessions.
    :ivar chunk_size: bytes per upload-session request (a multiple of 4 MiB).
    :ivar max_retries_on_rate_limit: rate-limit retries inside the SDK; keep 0
        to let the edge's bounded policy decide.
    :ivar timeout: seconds to wait for Dropbox per request.
    :ivar emulator: the URL of an :mod:`edgesync_dropbox.testing` emulator to
        talk to instead of Dropbox (offline tests and the demo).
    """

    app_key: str = attrs.field(metadata={"help": "the Dropbox app's key"})
    token_file: str = attrs.field(metadata={"help": "the file 'edgesync auth dropbox' wrote"})
    root: str = attrs.field(default="", metadata={"help": "Dropbox folder to sync into"})
    upload_threshold: int = attrs.field(
        default=8 * _MiB, metadata={"help": "larger files use upload sessions"})
    chunk_size: int = attrs.field(default=8 * _MiB, validator=_positive_multiple_of_4mib,
                                  metadata={"help": "bytes per upload-session request"})
    max_retries_on_rate_limit: int = attrs.field(
        default=0, metadata={"help": "rate-limit retries inside the SDK"})
    timeout: float = attrs.field(default=100.0, metadata={"help": "seconds per request"})
    emulator: str = attrs.field(default="", metadata={"help": "URL of a local emulator"})


def read_token_file(path: Path) -> dict[str, str]:
    """The linked account in a token file: ``{"app_key", "refresh_token", ...}``.

    :raises ConfigError: missing or unreadable, with what to run.
    """
    try:
        data = json.loads(path.expanduser().read_text("utf-8"))
        if not isinstance(data, dict) or not data.get("refresh_token"):
            raise ValueError("no refresh_token in it")
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist: {RELINK}") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} cannot be read ({exc}): {RELINK}") from exc
    return data


class DropboxProvider(Provider):
    """One linked Dropbox account.

    :param options: the provider's options.
    :param session: the ``requests`` session the SDK uses (tests inject one
        reaching the emulator; default: the SDK's own, or the emulator's
        when ``options.emulator`` is set).
    :raises ConfigError: no usable token file.
    """

    name = "dropbox"

    def __init__(self, options: DropboxOptions, *, session: Any = None) -> None:
        import dropbox

        token = read_token_file(Path(options.token_file))
        if session is None and options.emulator:
            from edgesync_dropbox.testing import loopback_session

            session = loopback_session(options.emulator)
        self.options = options
        self._root = "/" + options.root.strip("/") if options.root.strip("/") else ""
        self.client = dropbox.Dropbox(
            oauth2_refresh_token=token["refresh_token"], app_key=options.app_key,
            session=session, timeout=options.timeout, max_retries_on_error=2,
            max_retries_on_rate_limit=options.max_retries_on_rate_limit)
        self.facts = ProviderFacts(hash_types={"dropbox"}, case_insensitive=True,
                                   max_single_put_size=options.upload_threshold)

    def remote(self, path: str) -> str:
        """The Dropbox path of an edgesync path (``/root/a/b.docx``)."""
        return f"{self._root}/{path}"

    # --- reading -------------------------------------------------------------

    def stat(self, path: str) -> RemoteEntry:
        """See :meth:`edgesync.providers.Provider.stat`."""
        with translate_errors(path):
            return entry_from_metadata(path, self.client.files_get_metadata(self.remote(path)))

    def get(self, path: str, dest: BinaryIO) -> RemoteEntry:
        """See :meth:`edgesync.providers.Provider.get`; checks the content hash."""
        from dropbox.content_hash import DropboxContentHasher

        with translate_errors(path):
            metadata, response = self.client.files_download(self.remote(path))
            entry = entry_from_metadata(path, metadata)
            hasher = DropboxContentHasher()
            try:
                for chunk in response.iter_content(_MiB):
                    hasher.update(chunk)
                    dest.write(chunk)
            finally:
                response.close()
        if entry.hashes.get("dropbox") not in (None, hasher.hexdigest()):
            raise ServiceUnavailableError(f"{path}: the download from Dropbox was cut short "
                                          "or damaged (content hash mismatch)", path=path)
        return entry

    # --- writing -------------------------------------------------------------

    def _mode(self, if_match: Revision | None, create_only: bool) -> Any:
        from dropbox.files import WriteMode

        if create_only:
            return WriteMode.add
        if if_match is not None:
            return WriteMode.update(if_match)
        return WriteMode.overwrite

    def put(self, path: str, src: BinaryIO, info: UploadInfo, *,
            if_match: Revision | None = None, create_only: bool = False) -> RemoteEntry:
        """See :meth:`edgesync.providers.Provider.put`.

        Content above ``upload_threshold`` goes through an upload session.
        """
        if info.size > self.options.upload_threshold:
            session = self.open_upload_session(path, info, if_match=if_match,
                                               create_only=create_only)
            return session.send_all(src, info.size, self.options.chunk_size)
        data = src.read(info.size)  # the SDK takes bytes only
        with translate_errors(path):
            metadata = self.client.files_upload(data, self.remote(path),
                                                mode=self._mode(if_match, create_only),
                                                strict_conflict=True)
        entry = entry_from_metadata(path, metadata)
        expected = info.hashes.get("dropbox")
        if expected and entry.hashes.get("dropbox") not in (None, expected):
            raise ServiceUnavailableError(f"{path}: Dropbox stored other bytes than were sent "
                                          "(content hash mismatch)", path=path)
        return entry

    def delete(self, path: str, *, if_match: Revision | None = None) -> None:
        """See :meth:`edgesync.providers.Provider.delete`."""
        with translate_errors(path):
            if if_match is not None:
                # parent_rev makes Dropbox refuse a newer revision itself; stat
                # first so that "absent" and "changed" stay distinguishable.
                current = self.stat(path)
                if current.revision != if_match:
                    raise RevisionConflictError(
                        f"{path} is at revision {current.revision} in Dropbox, not {if_match}",
                        path=path, current=current.revision)
            self.client.files_delete_v2(self.remote(path), parent_rev=if_match)

    def open_upload_session(self, path: str, info: UploadInfo, *,
                            if_match: Revision | None = None,
                            create_only: bool = False) -> UploadSession:
        """See :meth:`edgesync.providers.Provider.open_upload_session`."""
        return _DropboxUploadSession(self, path, self._mode(if_match, create_only))


class _DropboxUploadSession(UploadSession):
    """A sequential Dropbox upload session, started by the first piece."""

    def __init__(self, provider: DropboxProvider, path: str, mode: Any) -> None:
        self._provider, self._path, self._mode = provider, path, mode
        self._session_id: str | None = None
        self._offset = 0

    @property
    def offset(self) -> int:
        return self._offset

    def _cursor(self, offset: int) -> Any:
        from dropbox.files import UploadSessionCursor

        return UploadSessionCursor(session_id=self._session_id, offset=offset)

    def append(self, data: bytes) -> None:
        client = self._provider.client
        try:
            with translate_errors(self._path):
                if self._session_id is None:
                    if self._offset:
                        raise ServiceUnavailableError("the upload session was lost; starting "
                                                      "again", path=self._path)
                    self._session_id = client.files_upload_session_start(data).session_id
                else:
                    client.files_upload_session_append_v2(data, self._cursor(self._offset))
        except SessionOffsetError as exc:
            if exc.correct_offset != self._offset + len(data):
                self._offset = exc.correct_offset
                raise
            # The piece had landed: an earlier try's answer was lost.
        except SessionExpiredError:
            self._session_id, self._offset = None, 0  # start over from the first byte
            raise
        self._offset += len(data)

    def resume(self) -> int:
        """Ask Dropbox where the session stands (an empty append at the known offset)."""
        if self._session_id is None:
            self._offset = 0
            return 0
        try:
            with translate_errors(self._path):
                self._provider.client.files_upload_session_append_v2(b"", self._cursor(
                    self._offset))
        except SessionOffsetError as exc:
            self._offset = exc.correct_offset
        except SessionExpiredError:
            self._session_id, self._offset = None, 0
        return self._offset

    def finish(self) -> RemoteEntry:
        from dropbox.files import CommitInfo

        with translate_errors(self._path):
            if self._session_id is None:  # zero-length content
                self._session_id = self._provider.client.files_upload_session_start(
                    b"").session_id
            commit = CommitInfo(path=self._provider.remote(self._path), mode=self._mode,
                                strict_conflict=True)
            metadata = self._provider.client.files_upload_session_finish(
                b"", self._cursor(self._offset), commit)
        return entry_from_metadata(self._path, metadata)

    def abort(self) -> None:
        self._session_id = None  # Dropbox expires abandoned sessions by itself

