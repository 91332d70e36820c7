"""The version store: each user's last synced versions, kept so that nothing acknowledged is lost.

Layout of one user's store::

    <root>/
      index.json          path -> FileRecord, rewritten atomically on every change
      objects/ab/ab12...  content, named by SHA-256 (written once, never modified)
      tmp/                partial writes; emptied at start

Every write goes to ``tmp/``, is flushed to disk (``fsync``), renamed into
place, and the folder is flushed too; an acknowledged version therefore
survives a crash or a power cut. A version's content is removed once no
record refers to it any more.

All changes to one store go through one lock; reading content does not.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import attrs

from edgesync._fs import fsync_dir
from edgesync.errors import BaseMismatchError, ConfigError, LimitExceededError

__all__ = ["FileRecord", "VersionStore", "UploadState"]

_CHUNK = 1 << 20


class UploadState:
    """Where a version stands with the cloud (the values of :attr:`FileRecord.state`)."""

    #: the cloud holds this version at the file's path
    UPLOADED = "uploaded"
    #: stored at the edge, not yet in the cloud; the edge keeps trying
    PENDING = "pending"
    #: the cloud's file changed elsewhere; this version went to ``conflict_path``
    CONFLICT = "conflict"
    #: the provider refused for good (credentials, quota); retried after a restart
    FAILED = "failed"


@attrs.frozen(kw_only=True)
class FileRecord:
    """What the edge knows about one file of one user.

    :ivar path: the normalised remote path.
    :ivar sha256: SHA-256 of the version the edge holds (the device's base).
    :ivar size: its length in bytes.
    :ivar state: an :class:`UploadState` value.
    :ivar cloud_revision: the provider's revision of the file at ``path`` as the
        edge last wrote or saw it; conditional writes use it. ``None``: the
        edge never saw the file in the cloud.
    :ivar cloud_sha256: SHA-256 of the content at ``cloud_revision`` (or, with
        no revision, of the content the device started from, which the cloud
        may replace).
    :ivar conflict_path: where this version went because of a conflict.
    :ivar conflict_revision: the revision of the conflict copy.
    :ivar error: ``{"code", "message"}`` of the last upload failure, or ``None``.
    :ivar source_sha256: in a device's shadow store: the SHA-256 of the device's
        file this version was made from, when the edge holds a canonical rebuild
        of it (``sha256`` differs); ``None`` when they are the same bytes.
    :ivar updated: when the record last changed (Unix time).
    """

    path: str
    sha256: str
    size: int
    state: str = UploadState.PENDING
    cloud_revision: str | None = None
    cloud_sha256: str | None = None
    conflict_path: str | None = None
    conflict_revision: str | None = None
    error: dict[str, Any] | None = None
    updated: float = attrs.field(factory=time.time)
    source_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data (the form stored in ``index.json``)."""
        return attrs.asdict(self)


class VersionStore:
    """One user's versions on disk. Thread-safe.

    :param root: the store's folder (created if missing).
    :param fsync: flush to disk before a change counts as done (turn off only
        for throwaway tests and benchmarks of the CPU path).
    :raises ConfigError: the index exists but cannot be read.
    """

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = Path(root)
        self.fsync = fsync
        self._lock = threading.RLock()
        for folder in ("objects", "tmp"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        for leftover in (self.root / "tmp").iterdir():  # partial writes of a crash
            leftover.unlink(missing_ok=True)
        self._index_path = self.root / "index.json"
        # Content stored but not yet committed or discarded: never collected.
        self._pins: dict[str, int] = {}
        self._records: dict[str, FileRecord] = self._load()

    def _load(self) -> dict[str, FileRecord]:
        try:
            data = json.loads(self._index_path.read_text("utf-8"))
            # Valid JSON of the wrong shape is as damaged as a torn file.
            return {path: FileRecord(**fields) for path, fields in data.get("files", {}).items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, AttributeError, TypeError) as exc:
            raise ConfigError(f"the edge's index {self._index_path} cannot be read ({exc}); "
                              "restore it from a backup or move it away to start empty") from exc

    # --- content ---------------------------------------------------------------

    def blob_path(self, sha256: str) -> Path:
        """Where the content with this SHA-256 lives (it may not exist)."""
        return self.root / "objects" / sha256[:2] / sha256

    def has_blob(self, sha256: str) -> bool:
        """Whether the content with this SHA-256 is stored."""
        return self.blob_path(sha256).is_file()

    def open_blob(self, sha256: str) -> BinaryIO:
        """Open stored content for reading.

        :raises FileNotFoundError: no such content.
        """
        return open(self.blob_path(sha256), "rb")

    def read_blob(self, sha256: str) -> bytes:
        """Stored content as bytes.

        :raises FileNotFoundError: no such content.
        """
        return self.blob_path(sha256).read_bytes()

    def put_bytes(self, data: bytes) -> str:
        """Store content; return its SHA-256. Idempotent.

        The content is pinned until the caller passes the SHA-256 to exactly
        one of :meth:`commit` or :meth:`discard`.
        """
        sha = hashlib.sha256(data).hexdigest()
        with self._temp() as (tmp, out):
            out.write(data)
            self._finish(tmp, out, sha)
        return sha

    def put_stream(self, stream: BinaryIO, length: int | None, limit: int) -> tuple[str, int]:
        """Store content read from ``stream``; return its SHA-256 and size.

        Pinned as by :meth:`put_bytes`.

        :param stream: where to read from.
        :param length: the exact length to read, or ``None`` to read to the end.
        :param limit: the most bytes accepted.
        :raises LimitExceededError: the content is longer than ``limit``; nothing
            is kept.
        :raises ValueError: the stream ended before ``length`` bytes.
        """
        digest = hashlib.sha256()
        size = 0
        with self._temp() as (tmp, out):
            while True:
                want = _CHUNK if length is None else min(_CHUNK, length - size)
                if want <= 0:
                    break
                chunk = stream.read(min(want, limit + 1 - size))
                if not chunk:
                    if length is not None:
                        raise ValueError(f"the body ended after {size} of {length} bytes")
                    break
                size += len(chunk)
                if size > limit:
                    raise LimitExceededError(
                        f"the file is larger than this edge accepts ({limit:,} bytes)",
                        limit="max_file_size")
                digest.update(chunk)
                out.write(chunk)
            sha = digest.hexdigest()
            self._finish(tmp, out, sha)
        return sha, size

    @contextlib.contextmanager
    def _temp(self) -> Iterator[tuple[Path, BinaryIO]]:
        tmp = self.root / "tmp" / secrets.token_hex(16)
        try:
            with open(tmp, "xb") as out:
                yield tmp, out
        finally:
            tmp.unlink(missing_ok=True)

    def _finish(self, tmp: Path, out: BinaryIO, sha: str) -> None:
        """Flush a finished temporary file, rename it to its content address, pin it."""
        target = self.blob_path(sha)
        with self._lock:
            self._pins[sha] = self._pins.get(sha, 0) + 1
            if target.is_file():
                return  # the same content is stored already
        out.flush()
        if self.fsync:
            os.fsync(out.fileno())
        target.parent.mkdir(exist_ok=True)
        os.replace(tmp, target)
        if self.fsync:
            fsync_dir(target.parent)

    def _unpin(self, sha: str) -> None:
        count = self._pins.get(sha, 0) - 1
        if count > 0:
            self._pins[sha] = count
        else:
            self._pins.pop(sha, None)

    # --- records -----------------------------------------------------------------

    def get(self, path: str) -> FileRecord | None:
        """The record of ``path``, or ``None``."""
        return self._records.get(path)

    def records(self) -> list[FileRecord]:
        """Every record, sorted by path."""
        with self._lock:
            return sorted(self._records.values(), key=lambda record: record.path)

    def commit(self, path: str, sha256: str, size: int, *, expect: str | None | bool = True,
               cloud_revision: str | None = None, cloud_sha256: str | None = None,
               ) -> FileRecord:
        """Make stored content the current version of ``path``, state pending.

        :param path: the normalised path.
        :param sha256: content stored with :meth:`put_bytes` or :meth:`put_stream`
            (its pin is released, whether the commit succeeds or not).
        :param size: its length.
        :param expect: the SHA-256 the current version must have (``None``: no
            version may exist; ``True``: anything goes).
        :param cloud_revision: for a path without a record: the cloud revision
            the content descends from (the edge fetched the base from the cloud).
        :param cloud_sha256: the SHA-256 of content the cloud may hold that this
            version replaces (the device's base); kept from the old record when
            ``None``.
        :returns: the new record.
        :raises BaseMismatchError: the current version is not ``expect``.
        """
        with self._lock:
            self._unpin(sha256)
            old = self._records.get(path)
            if expect is not True and (old.sha256 if old else None) != expect:
                self._collect(sha256)
                raise BaseMismatchError(
                    f"{path}: the edge holds another version than the one this change "
                    "was made against; send the whole file, or a delta against the "
                    "edge's version", expected=expect or "", actual=old.sha256 if old else "")
            if old is not None and old.state == UploadState.UPLOADED \
                    and old.cloud_sha256 == sha256:
                record = attrs.evolve(old, updated=time.time(), error=None)  # the cloud has it
            elif old is not None:
                record = attrs.evolve(old, sha256=sha256, size=size, error=None,
                                      updated=time.time(),
                                      cloud_sha256=cloud_sha256 or old.cloud_sha256,
                                      state=(UploadState.CONFLICT
                                             if old.state == UploadState.CONFLICT
                                             else UploadState.PENDING))
            else:
                record = FileRecord(path=path, sha256=sha256, size=size,
                                    cloud_revision=cloud_revision, cloud_sha256=cloud_sha256)
            self._records[path] = record
            self._save()
            if old is not None and old.sha256 != sha256:
                self._collect(old.sha256)
            return record

    def update(self, path: str, sha256: str, **changes: Any) -> FileRecord | None:
        """Change fields of the record of ``path`` if it still holds ``sha256``.

        The uploader records its outcome this way, so that a newer version
        committed meanwhile is never marked as uploaded.

        :returns: the new record, or ``None`` if the version changed or went.
        """
        with self._lock:
            record = self._records.get(path)
            if record is None or record.sha256 != sha256:
                return None
            record = attrs.evolve(record, updated=time.time(), **changes)
            self._records[path] = record
            self._save()
            return record

    def remember(self, path: str, **cloud_fields: Any) -> None:
        """Record what the cloud now holds for ``path``, whichever version is current.

        The uploader calls it when a newer version was committed while it
        uploaded an older one: the cloud's revision changed all the same, and
        forgetting it would make the edge take its own write for a change made
        elsewhere.

        :param cloud_fields: ``cloud_revision``, ``cloud_sha256``,
            ``conflict_path``, ``conflict_revision``.
        """
        with self._lock:
            record = self._records.get(path)
            if record is not None:
                self._records[path] = attrs.evolve(record, **cloud_fields)
                self._save()

    def remove(self, path: str, *, expect: str | bool = True) -> FileRecord | None:
        """Forget ``path``; return the record that was removed, if any.

        :raises BaseMismatchError: the current version is not ``expect``.
        """
        with self._lock:
            record = self._records.get(path)
            if expect is not True and (record.sha256 if record else None) != expect:
                raise BaseMismatchError(
                    f"{path}: the edge holds another version than the one named; "
                    "nothing was deleted", expected=str(expect),
                    actual=record.sha256 if record else "")
            if record is not None:
                del self._records[path]
                self._save()
                self._collect(record.sha256)
            return record

    def discard(self, sha256: str) -> None:
        """Release content stored for a save that was refused (deleted if unused)."""
        with self._lock:
            self._unpin(sha256)
            self._collect(sha256)

    def _collect(self, sha256: str) -> None:
        if sha256 not in self._pins and all(record.sha256 != sha256
                                            for record in self._records.values()):
            self.blob_path(sha256).unlink(missing_ok=True)

    def _save(self) -> None:
        data = {"format": 1, "files": {path: record.to_dict()
                                       for path, record in sorted(self._records.items())}}
        with self._temp() as (tmp, out):
            out.write(json.dumps(data, indent=1).encode("utf-8"))
            out.flush()
            if self.fsync:
                os.fsync(out.fileno())
            os.replace(tmp, self._index_path)
        if self.fsync:
            fsync_dir(self.root)
