"""The ``local`` provider: a folder plays the cloud.

The embedded default, so that the edge, the agent and the demo run without an
account; also what the conformance suite and the edge's tests run against.

Layout under the configured root: the synced files at their paths, and one
hidden folder ``.edgesync-local/`` for partial writes and upload sessions
(that name is refused as a path). A revision is the file's stat signature
(modification time, size, inode), so a change made by any other program is
seen as a new revision. Writes go to a temporary file that is flushed to disk
and renamed into place, so a crash never leaves half a file.

Preconditions are checked under a lock shared by every ``local`` provider on
the same root in this process; ``create_only`` is also atomic against other
processes (a hard link fails if the name exists). Another process replacing a
file between the check and the rename of an ``if_match`` write is not detected.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

import attrs

from edgesync._fs import fsync_dir
from edgesync.errors import (
    InvalidPathError,
    NotAFileError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    QuotaExceededError,
    RevisionConflictError,
    ServiceUnavailableError,
)
from edgesync.hookspecs import hookimpl
from edgesync.providers.base import Provider, UploadSession
from edgesync.types import ProviderFacts, ProviderSpec, RemoteEntry, Revision, UploadInfo

__all__ = ["LocalOptions", "LocalProvider"]

#: The provider's own folder under the root.
RESERVED = ".edgesync-local"
_COPY = 1 << 20
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


@attrs.frozen(kw_only=True)
class LocalOptions:
    """Options of the ``local`` provider (the ``[provider.options]`` table).

    :ivar root: the folder that plays the cloud; created if missing.
    :ivar fsync: flush every write to disk before it counts as done (turn off
        only for throwaway tests).
    """

    root: str = attrs.field(metadata={"help": "folder that plays the cloud (created if missing)"})
    fsync: bool = attrs.field(default=True, metadata={"help": "flush writes to disk"})


@hookimpl
def edgesync_providers() -> Iterable[ProviderSpec]:
    """The built-in ``local`` provider."""
    yield ProviderSpec(name="local", factory=LocalProvider, options_type=LocalOptions,
                       description="a folder on this machine plays the cloud (built in)")


@contextlib.contextmanager
def _translate(path: str) -> Iterator[None]:
    """OS errors -> edgesync errors: the one translation point of this provider."""
    try:
        yield
    except ProviderError:
        raise
    except FileNotFoundError as exc:
        raise NotFoundError(f"{path} does not exist", path=path) from exc
    except (IsADirectoryError, NotADirectoryError) as exc:
        raise NotAFileError(f"{path} is a folder, or inside something that is not a folder",
                            path=path) from exc
    except PermissionError as exc:
        raise PermissionDeniedError(f"no permission to access {path}: {exc.strerror}",
                                    path=path) from exc
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise QuotaExceededError(f"no space left to store {path}", path=path) from exc
        if exc.errno in (errno.ENAMETOOLONG, errno.EINVAL, errno.EILSEQ):
            raise InvalidPathError(f"the file system refuses the name {path}: {exc.strerror}",
                                   path=path) from exc
        raise ServiceUnavailableError(f"cannot access {path}: {exc}", path=path) from exc


def _revision(st: os.stat_result) -> Revision:
    return Revision(f"{st.st_mtime_ns:x}-{st.st_size:x}-{st.st_ino:x}")


class LocalProvider(Provider):
    """A folder as the cloud. Build it from :class:`LocalOptions`.

    :param options: the root folder and whether to fsync.
    """

    name = "local"

    def __init__(self, options: LocalOptions) -> None:
        self.root = Path(options.root).expanduser().resolve()
        self.fsync = options.fsync
        self._work = self.root / RESERVED
        with _translate(str(self.root)):
            (self._work / "tmp").mkdir(parents=True, exist_ok=True)
            (self._work / "uploads").mkdir(parents=True, exist_ok=True)
            case_insensitive = self._probe_case_insensitive()
        with _locks_guard:
            self._lock = _locks.setdefault(str(self.root), threading.Lock())
        self.facts = ProviderFacts(hash_types={"sha256"}, case_insensitive=case_insensitive,
                                   max_path_length=4000)

    def _probe_case_insensitive(self) -> bool:
        probe = self._work / f"Case-{secrets.token_hex(16)}"
        probe.touch()
        try:
            # Only the probe's own name changes case: the folders above the
            # root may live on a file system with other rules.
            return probe.with_name(probe.name.lower()).exists()
        finally:
            probe.unlink()

    def _full(self, path: str) -> Path:
        if path.split("/", 1)[0].casefold() == RESERVED:
            raise InvalidPathError(f"{RESERVED!r} is reserved by the local provider", path=path)
        return self.root / path

    # --- reading -------------------------------------------------------------

    def _entry(self, path: str, st: os.stat_result, sha256: str) -> RemoteEntry:
        return RemoteEntry(path=path, size=st.st_size, revision=_revision(st),
                           hashes={"sha256": sha256},
                           modified=datetime.fromtimestamp(st.st_mtime, timezone.utc))

    def _current(self, path: str) -> Revision | None:
        try:
            st = self._full(path).stat()
        except FileNotFoundError:
            return None
        if not os.path.isfile(self._full(path)):
            raise NotAFileError(f"{path} is a folder", path=path)
        return _revision(st)

    def stat(self, path: str) -> RemoteEntry:
        """See :meth:`Provider.stat`; reads the file to hash it."""
        with _translate(path):
            return self.get(path, _Discard())

    def get(self, path: str, dest: BinaryIO) -> RemoteEntry:
        """See :meth:`Provider.get`."""
        with _translate(path), open(self._full(path), "rb") as src:
            st = os.fstat(src.fileno())
            if not os.path.isfile(self._full(path)):
                raise NotAFileError(f"{path} is not a file", path=path)
            digest = hashlib.sha256()
            while chunk := src.read(_COPY):
                digest.update(chunk)
                dest.write(chunk)
            return self._entry(path, st, digest.hexdigest())

    # --- writing -------------------------------------------------------------

    def _check(self, path: str, if_match: Revision | None, create_only: bool) -> None:
        current = self._current(path)
        if current is None and if_match is not None:
            raise RevisionConflictError(f"{path} was to be replaced at revision {if_match}, "
                                        "but it no longer exists", path=path, current=None)
        if current is not None and create_only:
            raise RevisionConflictError(f"{path} already exists", path=path, current=current)
        if current is not None and if_match is not None and current != if_match:
            raise RevisionConflictError(f"{path} is at revision {current}, not {if_match}: "
                                        "it changed elsewhere", path=path, current=current)

    def _commit(self, tmp: Path, path: str, sha256: str, if_match: Revision | None,
                create_only: bool) -> RemoteEntry:
        """Move a finished temporary file into place under the preconditions."""
        target = self._full(path)
        try:
            with _translate(path):
                with self._lock:
                    self._check(path, if_match, create_only)
                    # Under the lock, after the check: a refused write creates
                    # no folders, and a delete cannot remove them before the rename.
                    target.parent.mkdir(parents=True, exist_ok=True)
                    if create_only:
                        try:  # a hard link fails atomically if the name exists
                            os.link(tmp, target)
                        except FileExistsError:
                            raise RevisionConflictError(f"{path} already exists",
                                                        path=path) from None
                    else:
                        os.replace(tmp, target)
                    st = target.stat()
                if self.fsync:
                    fsync_dir(target.parent)
                return self._entry(path, st, sha256)
        finally:
            tmp.unlink(missing_ok=True)

    def put(self, path: str, src: BinaryIO, info: UploadInfo, *,
            if_match: Revision | None = None, create_only: bool = False) -> RemoteEntry:
        """See :meth:`Provider.put`."""
        self._full(path)
        tmp = self._work / "tmp" / secrets.token_hex(16)
        digest = hashlib.sha256()
        with _translate(path):
            try:
                with open(tmp, "xb") as out:
                    left = info.size
                    while left and (chunk := src.read(min(_COPY, left))):
                        out.write(chunk)
                        digest.update(chunk)
                        left -= len(chunk)
                    if left:
                        raise ServiceUnavailableError(
                            f"{path}: the source ended {left} bytes before its declared "
                            f"size {info.size}", path=path)
                    if self.fsync:
                        out.flush()
                        os.fsync(out.fileno())
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        return self._commit(tmp, path, digest.hexdigest(), if_match, create_only)

    def delete(self, path: str, *, if_match: Revision | None = None) -> None:
        """See :meth:`Provider.delete`; also removes folders it leaves empty."""
        target = self._full(path)
        with _translate(path):
            with self._lock:
                if self._current(path) is None:
                    raise NotFoundError(f"{path} does not exist", path=path)
                self._check(path, if_match, False)
                target.unlink()
                # Under the lock, so that a put cannot lose its folder between
                # creating it and renaming its file into it.
                parent = target.parent
                while parent != self.root:
                    try:
                        parent.rmdir()
                    except OSError:
                        break
                    parent = parent.parent

    def open_upload_session(self, path: str, info: UploadInfo, *,
                            if_match: Revision | None = None,
                            create_only: bool = False) -> UploadSession:
        """See :meth:`Provider.open_upload_session`."""
        self._full(path)
        part = self._work / "uploads" / secrets.token_hex(16)
        with _translate(path):
            part.touch(exist_ok=False)
        return _LocalUploadSession(self, path, part, info, if_match, create_only)


class _LocalUploadSession(UploadSession):
    def __init__(self, provider: LocalProvider, path: str, part: Path, info: UploadInfo,
                 if_match: Revision | None, create_only: bool) -> None:
        self._provider, self._path, self._part, self._info = provider, path, part, info
        self._if_match, self._create_only = if_match, create_only
        self._offset = 0

    @property
    def offset(self) -> int:
        return self._offset

    def append(self, data: bytes) -> None:
        with _translate(self._path), open(self._part, "r+b") as out:
            out.seek(self._offset)
            out.write(data)
            out.truncate()
        self._offset += len(data)

    def resume(self) -> int:
        with _translate(self._path):
            self._offset = self._part.stat().st_size
        return self._offset

    def finish(self) -> RemoteEntry:
        with _translate(self._path):
            size = self._part.stat().st_size
            if size != self._info.size:
                raise ServiceUnavailableError(
                    f"{self._path}: the session holds {size} bytes, not {self._info.size}",
                    path=self._path)
            digest = hashlib.sha256()
            with open(self._part, "rb") as part:
                while chunk := part.read(_COPY):
                    digest.update(chunk)
                if self._provider.fsync:
                    os.fsync(part.fileno())
        return self._provider._commit(self._part, self._path, digest.hexdigest(),
                                      self._if_match, self._create_only)

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._part.unlink()


class _Discard:
    """A write-only sink, for hashing a file without keeping it."""

    def write(self, data: bytes) -> int:
        return len(data)
