"""Getting stored versions into the cloud: conditional writes, conflicts, retries.

The uploader never overwrites a change made elsewhere. It writes a file with
``if_match`` set to the revision the edge last saw (or ``create_only`` when it
saw none). When that precondition fails it looks at what the cloud holds:

- the same content (a retry after a lost response): adopt the cloud's revision;
- the content the device started from (the edge lost or never had the
  revision): replace exactly that revision;
- anything else: upload this version beside it as a conflict copy,
  ``name (edgesync conflict YYYY-MM-DD HHMMSS).ext``, and say so.

After a write, the hashes the provider reports are compared with the ones
computed locally. Retries are driven by the error classes only: ``retryable``
errors are retried with exponential backoff (or the service's ``retry_after``),
a bounded number of times within a request; after that the version stays
stored and :class:`UploadQueue` keeps trying in the background.
"""

from __future__ import annotations

import heapq
import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, BinaryIO

import attrs

from edgesync.edge.store import FileRecord, UploadState, VersionStore
from edgesync.errors import (
    EdgesyncError,
    LimitExceededError,
    NotFoundError,
    RevisionConflictError,
    ServiceUnavailableError,
)
from edgesync.hashing import hash_stream
from edgesync.providers.base import Provider
from edgesync.types import RemoteEntry, UploadInfo

__all__ = ["RetryPolicy", "UploadQueue", "Uploader", "conflict_name"]

log = logging.getLogger("edgesync.edge")

#: The largest cloud file the uploader downloads only to compare its content.
COMPARE_LIMIT = 256 << 20
#: Bytes sent per piece in a resumable upload.
SESSION_PIECE = 8 << 20


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How hard the edge tries before it leaves an upload to the background.

    :ivar attempts: tries within one request (1 = no retry).
    :ivar base_delay: first backoff delay in seconds; doubled each time, with jitter.
    :ivar max_delay: longest backoff delay within a request.
    :ivar max_wait: the longest ``retry_after`` honoured within a request; a
        service that asks for more gets the upload in the background instead.
    :ivar background_max_delay: longest delay between background attempts.
    """

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_wait: float = 30.0
    background_max_delay: float = 600.0

    def delay(self, attempt: int, error: EdgesyncError | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based) after ``error``."""
        hinted = getattr(error, "retry_after", None)
        if hinted is not None:
            return float(hinted)
        return min(self.max_delay, self.base_delay * 2 ** attempt) * random.uniform(0.8, 1.2)


def conflict_name(path: str, when: datetime, number: int = 1) -> str:
    """The conflict copy's path for ``path``: ``a/b (edgesync conflict 2026-11-25 231500).docx``.

    :param number: 2 and up make further copies of the same second:
        ``b (edgesync conflict 2026-11-25 231500 2).docx``.
    """
    folder, _, name = path.rpartition("/")
    stem, dot, ext = name.rpartition(".")
    if not stem:  # no extension, or a dot file such as ".bashrc"
        stem, dot, ext = name, "", ""
    tag = when.astimezone(timezone.utc).strftime("%Y-%m-%d %H%M%S")
    if number > 1:
        tag += f" {number}"
    copy = f"{stem} (edgesync conflict {tag}){dot}{ext}"
    return f"{folder}/{copy}" if folder else copy


class Uploader:
    """Uploads one user's stored versions through one provider.

    :param provider: the user's cloud.
    :param store: the user's versions.
    :param hashers: hasher factories for ``sha256`` and every hash type the
        provider declares.
    :param policy: retry limits.
    :param on_upload: called with ``(bytes, seconds)`` after each successful write.
    :param sleep: how to wait (tests pass a fake).
    """

    def __init__(self, provider: Provider, store: VersionStore, hashers: dict[str, Any], *,
                 policy: RetryPolicy = RetryPolicy(),
                 on_upload: Callable[[int, float], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.provider, self.store, self.hashers, self.policy = provider, store, hashers, policy
        self._on_upload = on_upload or (lambda size, seconds: None)
        self._sleep = sleep
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._infos: dict[str, UploadInfo] = {}

    def path_lock(self, path: str) -> threading.Lock:
        """The lock that serialises uploads and deletes of one path."""
        with self._locks_guard:
            return self._locks.setdefault(path, threading.Lock())

    def call_with_retries(self, call: Callable[[], Any]) -> Any:
        """Run ``call``, retrying retryable errors per the policy.

        :returns: what ``call`` returns.
        :raises EdgesyncError: the last error, when it is not retryable or the
            tries are used up.
        """
        for attempt in range(self.policy.attempts):
            try:
                return call()
            except EdgesyncError as exc:
                delay = self.policy.delay(attempt, exc)
                if (not exc.retryable or attempt + 1 == self.policy.attempts
                        or delay > self.policy.max_wait):
                    raise
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    # --- the retry loop --------------------------------------------------------

    def upload(self, path: str, *, attempts: int | None = None) -> FileRecord | None:
        """Bring the cloud up to date with the stored version of ``path``, within limits.

        :param path: the normalised path.
        :param attempts: tries before giving up (default ``policy.attempts``).

        :returns: the record afterwards: ``uploaded``, ``conflict``, ``pending``
            (transient failures outlasted the retries: queue it) or ``failed``
            (a fatal or permanent error, in ``record.error``); ``None`` if the
            path has no record any more.
        """
        with self.path_lock(path):
            attempts = attempts or self.policy.attempts
            for attempt in range(attempts):
                record = self.store.get(path)
                if record is None or record.state == UploadState.UPLOADED:
                    return record
                try:
                    # None: a newer version arrived meanwhile; its own save uploads it.
                    return self._attempt(record) or self.store.get(path)
                except EdgesyncError as exc:
                    error = exc
                except Exception as exc:  # a plugin bug: keep the version, keep trying
                    log.exception("provider %s failed unexpectedly on %s", self.provider.name,
                                  path)
                    error = ServiceUnavailableError(f"the provider failed unexpectedly: {exc!r}",
                                                    path=path)
                delay = self.policy.delay(attempt, error)
                last = attempt + 1 == attempts
                if not error.retryable or last or delay > self.policy.max_wait:
                    state = UploadState.PENDING if error.retryable else UploadState.FAILED
                    return self.store.update(path, record.sha256, state=state,
                                             error={"code": error.code,
                                                    "message": error.message},
                                             ) or self.store.get(path)
                self._sleep(delay)
        return self.store.get(path)

    # --- one attempt -------------------------------------------------------------

    def _info(self, record: FileRecord) -> UploadInfo:
        info = self._infos.get(record.sha256)
        if info is None:
            with self.store.open_blob(record.sha256) as blob:
                hashes = hash_stream(blob, self.hashers)
            info = UploadInfo(size=record.size, hashes=hashes)
            if len(self._infos) > 256:
                self._infos.clear()
            self._infos[record.sha256] = info
        return info

    def _attempt(self, record: FileRecord) -> FileRecord | None:
        info = self._info(record)
        # In conflict too the file's own path comes first: once the other change
        # is gone, or the device merged it (its base is now the cloud's content),
        # the version goes back to the file's path and the conflict ends.
        try:
            entry = self._write(record, record.path, info, if_match=record.cloud_revision,
                                create_only=record.cloud_revision is None)
        except RevisionConflictError:
            entry = self._resolve(record, info)
            if entry is None:
                return self._to_conflict_copy(record, info)
        cloud = {"cloud_revision": entry.revision, "cloud_sha256": record.sha256}
        updated = self.store.update(record.path, record.sha256, state=UploadState.UPLOADED,
                                    conflict_path=None, conflict_revision=None, error=None,
                                    **cloud)
        if updated is None:  # superseded meanwhile: keep what the cloud holds now
            self.store.remember(record.path, **cloud)
        return updated

    def upload_copy(self, path: str, sha256: str, size: int) -> tuple[str, RemoteEntry]:
        """Upload stored content as a new conflict copy of ``path`` (retried per the policy).

        For a version the edge does not make current (it diverged from the
        edge's version).

        :returns: the copy's path and entry.
        :raises ProviderError: the cloud refused or stayed unavailable.
        """
        record = FileRecord(path=path, sha256=sha256, size=size)
        info = self._info(record)
        copy, entry = self.call_with_retries(lambda: self._new_copy(record, info))
        log.warning("%s: a version that did not start from the edge's was uploaded as %s",
                    path, copy)
        return copy, entry

    def _resolve(self, record: FileRecord, info: UploadInfo) -> RemoteEntry | None:
        """After a failed precondition: the entry now holding this version, or None."""
        try:
            current = self.provider.stat(record.path)
        except NotFoundError:
            # Deleted elsewhere since the edge last wrote it: nothing to overwrite.
            return self._write(record, record.path, info, if_match=None, create_only=True)
        if self._same(current, info, record.sha256):
            return current  # it is already there (an earlier response was lost)
        if record.cloud_sha256 and self._same(current, None, record.cloud_sha256):
            # The cloud holds the device's base at a revision the edge did not know.
            return self._write(record, record.path, info, if_match=current.revision,
                               create_only=False)
        return None

    def _same(self, entry: RemoteEntry, info: UploadInfo | None, sha256: str) -> bool:
        """Whether the cloud's entry holds the content with this SHA-256."""
        if "sha256" in entry.hashes:
            return entry.hashes["sha256"] == sha256
        if info is not None:
            common = set(entry.hashes) & set(info.hashes)
            if common:
                return all(entry.hashes[name] == info.hashes[name] for name in common)
        if entry.size > COMPARE_LIMIT:
            return False
        sink = _Hashing()
        self.provider.get(entry.path, sink)
        return sink.hexdigest() == sha256

    def _to_conflict_copy(self, record: FileRecord, info: UploadInfo) -> FileRecord | None:
        target = record.conflict_path
        if target is not None:
            try:
                entry = self._write(record, target, info, if_match=record.conflict_revision,
                                    create_only=record.conflict_revision is None)
            except RevisionConflictError:
                target = None  # the copy changed or went: make a new one
        if target is None:
            target, entry = self._new_copy(record, info)
        log.warning("%s changed in the cloud since the edge last saw it; this version "
                    "was uploaded as %s", record.path, target)
        copy = {"conflict_path": target, "conflict_revision": entry.revision}
        updated = self.store.update(record.path, record.sha256, state=UploadState.CONFLICT,
                                    error=None, **copy)
        if updated is None:  # superseded meanwhile: keep where the copy is
            self.store.remember(record.path, **copy)
        return updated

    def _new_copy(self, record: FileRecord, info: UploadInfo) -> tuple[str, RemoteEntry]:
        """Write a new conflict copy, under the first name of this second not yet taken."""
        when = datetime.now(timezone.utc)
        for number in range(1, 100):
            copy = conflict_name(record.path, when, number)
            try:
                return copy, self._write(record, copy, info, if_match=None, create_only=True)
            except RevisionConflictError:
                continue
        raise RevisionConflictError(f"{record.path}: 99 conflict copies of this second exist",
                                    path=record.path)

    def _write(self, record: FileRecord, path: str, info: UploadInfo, *,
               if_match: str | None, create_only: bool) -> RemoteEntry:
        started = time.perf_counter()
        limit = self.provider.facts.max_single_put_size
        with self.store.open_blob(record.sha256) as blob:
            if limit is not None and info.size > limit:
                entry = self._write_session(blob, path, info, if_match, create_only)
            else:
                entry = self.provider.put(path, blob, info, if_match=if_match,
                                          create_only=create_only)
        for name in set(entry.hashes) & set(info.hashes):
            if entry.hashes[name] != info.hashes[name]:
                # The bad revision is the edge's own write: remember it, so that the
                # retry replaces it instead of taking it for a change made elsewhere.
                if path == record.path:
                    self.store.update(record.path, record.sha256,
                                      cloud_revision=entry.revision,
                                      cloud_sha256=entry.hashes.get("sha256"))
                else:
                    self.store.update(record.path, record.sha256, conflict_path=path,
                                      conflict_revision=entry.revision)
                raise ServiceUnavailableError(
                    f"{path}: the cloud's {name} hash after the upload differs from the "
                    "content sent; the upload will be repeated", path=path)
        self._on_upload(info.size, time.perf_counter() - started)
        return entry

    def _write_session(self, blob: BinaryIO, path: str, info: UploadInfo,
                       if_match: str | None, create_only: bool) -> RemoteEntry:
        if not self.provider.capabilities.supports_resumable_upload:
            raise LimitExceededError(
                f"{path} is {info.size:,} bytes; the {self.provider.name} provider takes at "
                f"most {self.provider.facts.max_single_put_size:,} in one upload and has no "
                "resumable upload", limit="max_single_put_size")
        session = self.provider.open_upload_session(path, info, if_match=if_match,
                                                    create_only=create_only)
        try:
            failures = 0
            while session.offset < info.size:
                blob.seek(session.offset)
                try:
                    session.append(blob.read(SESSION_PIECE))
                except EdgesyncError as exc:
                    failures += 1
                    if not exc.retryable or failures >= self.policy.attempts:
                        raise
                    self._sleep(self.policy.delay(failures - 1, exc))
                    session.resume()
            return session.finish()
        except BaseException:
            session.abort()
            raise


class _Hashing:
    """A write-only sink that hashes what is written (SHA-256)."""

    def __init__(self) -> None:
        import hashlib

        self._digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        return len(data)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


class UploadQueue:
    """One background thread that retries pending uploads of every user.

    Each path is retried with exponential backoff, from
    ``policy.base_delay`` up to ``policy.background_max_delay``, until it is
    uploaded, conflicted, or replaced by a newer version.
    """

    def __init__(self, policy: RetryPolicy = RetryPolicy()) -> None:
        self.policy = policy
        self._heap: list[tuple[float, int, Uploader, str, int]] = []
        self._queued: set[tuple[int, str]] = set()
        self._counter = 0
        self._wake = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="edgesync-uploads", daemon=True)

    def start(self) -> None:
        """Start the background thread."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (pending versions stay stored, for the next start)."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def depth(self) -> int:
        """How many uploads wait in the background."""
        return len(self._queued)

    def schedule(self, uploader: Uploader, path: str, *, delay: float = 0.0,
                 tries: int = 0) -> None:
        """Retry ``path`` of ``uploader`` after ``delay`` seconds (once per path)."""
        key = (id(uploader), path)
        with self._wake:
            if key in self._queued:
                return
            self._queued.add(key)
            self._counter += 1
            heapq.heappush(self._heap, (time.monotonic() + delay, self._counter, uploader,
                                        path, tries))
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopping and (not self._heap
                                              or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._wake.wait(timeout)
                if self._stopping:
                    return
                _, _, uploader, path, tries = heapq.heappop(self._heap)
                self._queued.discard((id(uploader), path))
            record = uploader.upload(path, attempts=1)
            if record is not None and record.state in (UploadState.PENDING,
                                                       UploadState.FAILED):
                delay = min(self.policy.background_max_delay,
                            self.policy.base_delay * 2 ** min(tries + 1, 30))
                self.schedule(uploader, path, delay=delay, tries=tries + 1)
