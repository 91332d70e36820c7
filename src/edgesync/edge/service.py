"""The edge's work, independent of HTTP: receive a version, verify, store, upload.

One :class:`EdgeService` serves one user (personal mode) or many (multi-user
mode); each user has a separate :class:`~edgesync.edge.store.VersionStore` and
a separate provider object, so one user's requests can never reach another
user's files. The order of a save is always:

1. check the path and the size limits (nothing written yet);
2. for a delta: check its base against the stored version (or, on a cold
   start, against the cloud's file); apply it; the engine verifies the result hash;
3. store the new version durably and make it current (atomically, under the
   store's lock, re-checking the base so two saves cannot both win);
4. upload it with a conditional write (see :mod:`edgesync.edge.uploader`);
   if the cloud is down, the version stays stored and goes up later.

The delta engine is imported on the first delta, so an idle edge stays small.
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
from typing import BinaryIO

import attrs

from edgesync.edge.config import EdgeConfig, valid_user
from edgesync.edge.metrics import EdgeMetrics
from edgesync.edge.store import FileRecord, UploadState, VersionStore
from edgesync.edge.uploader import RetryPolicy, Uploader, UploadQueue
from edgesync.errors import (
    BaseMismatchError,
    ConfigError,
    InvalidPathError,
    LimitExceededError,
    NotFoundError,
    ProviderError,
    UnauthorizedError,
    WireFormatError,
)
from edgesync.paths import normalize_path
from edgesync.plugins import PluginHost
from edgesync.providers.base import Provider

__all__ = ["NO_BASE", "EdgeService", "SaveResult", "UserEdge"]

#: The ``X-Edgesync-Base`` of a device that has no earlier version of the file.
NO_BASE = "none"


@attrs.frozen(kw_only=True)
class SaveResult:
    """The outcome of one save.

    :ivar record: the file's record after the save and the upload attempt.
    :ivar received: bytes of the request body.
    :ivar exact: the stored version is byte for byte the device's file (a delta
        made against an office suite's own deflate rebuilds canonical bytes).
    :ivar apply_seconds: time to check and apply the delta (0 for whole files).
    :ivar upload_seconds: time spent uploading within the request.
    """

    record: FileRecord
    received: int
    exact: bool = True
    apply_seconds: float = 0.0
    upload_seconds: float = 0.0


@attrs.define
class UserEdge:
    """One user's part of the edge.

    :ivar name: the user.
    :ivar store: their versions.
    :ivar provider: their cloud account.
    :ivar uploader: uploads their versions through ``provider``.
    """

    name: str
    store: VersionStore
    provider: Provider
    uploader: Uploader


class EdgeService:
    """The edge's operations for authenticated users.

    :param config: the checked configuration.
    :param host: where providers come from (default: a :class:`PluginHost` that
        loads only the configured provider's plugin).
    :param policy: retry limits (default from ``config``).
    :param metrics: counters to update (default: new ones).
    :raises PluginError: the configured provider is not installed or failed to load.
    :raises ConfigError: personal mode, and the provider options are refused.
    """

    def __init__(self, config: EdgeConfig, *, host: PluginHost | None = None,
                 policy: RetryPolicy | None = None, metrics: EdgeMetrics | None = None) -> None:
        self.config = config
        self.host = host or PluginHost().load(only={config.provider})
        self.policy = policy or RetryPolicy(attempts=config.upload_attempts,
                                            max_wait=config.max_wait)
        self.queue = UploadQueue(self.policy)
        self.metrics = metrics or EdgeMetrics(self.queue.depth)
        self._users: dict[str, UserEdge] = {}
        self._lock = threading.Lock()
        self.spec = self.host.provider_spec(config.provider)  # fail at startup, not later
        if config.mode == "personal":
            self.user(config.user)

    # --- users ------------------------------------------------------------------

    def user(self, name: str) -> UserEdge:
        """The part of the edge that serves ``name``, built on first use.

        :raises UnauthorizedError: personal mode and ``name`` is not the edge's user.
        :raises ConfigError: the provider refuses this user's options.
        """
        if self.config.mode == "personal" and name != self.config.user:
            raise UnauthorizedError(f"this edge serves only {self.config.user!r}")
        with self._lock:
            edge = self._users.get(name)
            if edge is None:
                edge = self._users[name] = self._build(name)
            return edge

    def _build(self, name: str) -> UserEdge:
        valid_user(name)
        config = self.config
        if (config.mode == "multi-user" and config.provider_options
                and name not in config.user_options
                and "{user}" not in repr(dict(config.provider_options))):
            raise ConfigError(f"multi-user mode: user {name!r} would share a cloud folder with "
                              "every other user; put {user} in a [provider.options] value or "
                              f"add [users.{name}.provider_options]")
        provider = self.host.make_provider(config.provider, config.options_for(name))
        store = VersionStore(config.store_dir(name), fsync=config.fsync)
        hashers = self.host.hashers(provider.facts.hash_types)
        uploader = Uploader(provider, store, hashers, policy=self.policy,
                            on_upload=self.metrics.upload)
        return UserEdge(name=name, store=store, provider=provider, uploader=uploader)

    def start(self) -> None:
        """Start background uploads, and queue every version not yet in the cloud."""
        self.queue.start()
        names = {self.config.user} if self.config.mode == "personal" else {
            folder.name for folder in (self.config.state_root / "users").glob("*")
            if (folder / "store" / "index.json").is_file()}
        for name in sorted(names):
            edge = self.user(name)
            for record in edge.store.records():
                if record.state in (UploadState.PENDING, UploadState.FAILED):
                    self.queue.schedule(edge.uploader, record.path)

    def close(self) -> None:
        """Stop background uploads (what is pending stays stored for the next start)."""
        self.queue.stop()

    # --- saves ------------------------------------------------------------------

    def save_file(self, user: str, path: str, body: BinaryIO, length: int | None, *,
                  sha256: str | None = None, expect: str | None | bool = True,
                  base: str | None = None) -> SaveResult:
        """Store a whole file as the new version of ``path`` and upload it.

        :param user: the authenticated user.
        :param path: the path as the device sent it (checked here).
        :param body: the content.
        :param length: its declared length, or ``None`` to read to the end.
        :param sha256: the content's SHA-256 as the device computed it, checked.
        :param expect: the SHA-256 the edge's current version must have
            (``None``: there must be none; ``True``: no condition).
        :param base: the SHA-256 of the version the device's edit started from,
            or :data:`NO_BASE` when it started from none. When the edge holds
            another version (another device saved since), this one is uploaded
            as a conflict copy and the edge's version stays. When the edge has
            no record, the cloud's file may be replaced only if it holds
            ``base``. ``None``: replace whatever the edge holds.
        :raises InvalidPathError, LimitExceededError, WireFormatError,
            BaseMismatchError: nothing was stored.
        """
        edge = self.user(user)
        path = self._check_path(edge, path)
        limit = self.config.max_file_size
        if length is not None and length > limit:
            raise LimitExceededError(f"the file is {length:,} bytes; this edge accepts at most "
                                     f"{limit:,}", limit="max_file_size")
        try:
            digest, size = edge.store.put_stream(body, length, limit)
        except ValueError as exc:
            raise WireFormatError(f"{path}: {exc}") from exc
        if sha256 is not None and sha256.lower() != digest:
            edge.store.discard(digest)
            raise WireFormatError(f"{path}: the body's SHA-256 is {digest}, not the {sha256} "
                                  "the request announced; it was damaged on the way, send it "
                                  "again")
        current = edge.store.get(path)
        if (base is not None and current is not None and current.state != UploadState.CONFLICT
                and current.sha256 not in (base, digest)):
            # The device's edit did not start from the edge's version: another
            # device saved since. Replacing it would lose that save, so this
            # version goes beside it as a conflict copy. (In a conflict, the edge's
            # version is already a copy in the cloud, and a base naming the cloud's
            # other version is a merge: see the uploader.)
            return self._divergent(edge, path, digest, size)
        edge.store.commit(path, digest, size, expect=expect,
                          cloud_sha256=base if base != NO_BASE else None)
        return self._upload(edge, path, received=size)

    def _divergent(self, edge: UserEdge, path: str, digest: str, size: int) -> SaveResult:
        started = time.perf_counter()
        try:
            copy, entry = edge.uploader.upload_copy(path, digest, size)
        finally:
            edge.store.discard(digest)
        record = FileRecord(path=path, sha256=digest, size=size, state=UploadState.CONFLICT,
                            conflict_path=copy, conflict_revision=entry.revision)
        return SaveResult(record=record, received=size,
                          upload_seconds=time.perf_counter() - started)

    def save_delta(self, user: str, path: str, delta: bytes) -> SaveResult:
        """Apply an edgesync delta to the stored version of ``path`` and upload the result.

        :raises BaseMismatchError: the delta was made against another version
            than the edge's (and, with none stored, than the cloud's): send the
            whole file. ``.actual`` is the edge's current SHA-256 or ``""``.
        :raises DeltaError: the delta is damaged, unsupported, or would exceed limits.
        """
        from edgesync import delta as engine  # lazy: an idle edge never loads the engine

        edge = self.user(user)
        path = self._check_path(edge, path)
        if len(delta) > self.config.max_delta_size:
            raise LimitExceededError(f"the delta is {len(delta):,} bytes; this edge accepts at "
                                     f"most {self.config.max_delta_size:,}",
                                     limit="max_delta_size")
        started = time.perf_counter()
        info = engine.describe(delta)
        record = edge.store.get(path)
        cloud_revision = None
        if record is not None and edge.store.has_blob(record.sha256):
            if record.sha256 != info.base_sha256:
                raise BaseMismatchError(
                    f"{path}: the delta was made against another version than the edge's; "
                    "send the whole file", expected=info.base_sha256, actual=record.sha256)
            base = edge.store.read_blob(record.sha256)
        else:
            base, cloud_revision = self._base_from_cloud(edge, path, info.base_sha256)
        limits = engine.Limits(max_result_size=self.config.max_file_size)
        new = engine.patch(base, delta, limits=limits)
        digest = edge.store.put_bytes(new)
        edge.store.commit(path, digest, len(new),
                          expect=record.sha256 if record is not None else None,
                          cloud_revision=cloud_revision,
                          cloud_sha256=info.base_sha256 if record is None else None)
        return self._upload(edge, path, received=len(delta), exact=info.exact,
                            apply_seconds=time.perf_counter() - started)

    def _base_from_cloud(self, edge: UserEdge, path: str, sha256: str) -> tuple[bytes, str]:
        """Cold start: the cloud's file, if it is the delta's base."""
        refuse = ("{path}: the edge has no version of this file{why}; send the whole file")
        try:
            entry = edge.provider.stat(path)
            if entry.size > self.config.max_file_size or (
                    "sha256" in entry.hashes and entry.hashes["sha256"] != sha256):
                raise BaseMismatchError(refuse.format(path=path, why=", and the cloud holds "
                                                      "another version"), expected=sha256)
            buffer = io.BytesIO()
            entry = edge.provider.get(path, buffer)
        except NotFoundError:
            raise BaseMismatchError(refuse.format(path=path, why=" and neither has the cloud"),
                                    expected=sha256) from None
        except ProviderError as exc:
            raise BaseMismatchError(refuse.format(path=path, why=f" and the cloud cannot be "
                                                  f"read now ({exc.message})"),
                                    expected=sha256) from exc
        base = buffer.getvalue()
        if hashlib.sha256(base).hexdigest() != sha256:
            raise BaseMismatchError(refuse.format(path=path, why=", and the cloud holds another "
                                                  "version"), expected=sha256)
        return base, entry.revision

    def _upload(self, edge: UserEdge, path: str, *, received: int, exact: bool = True,
                apply_seconds: float = 0.0) -> SaveResult:
        started = time.perf_counter()
        record = edge.uploader.upload(path)
        if record is None:  # deleted meanwhile by another request
            raise NotFoundError(f"{path} was deleted while it was being saved", path=path)
        if record.state in (UploadState.PENDING, UploadState.FAILED):
            self.queue.schedule(edge.uploader, path, delay=self.policy.base_delay)
        return SaveResult(record=record, received=received, exact=exact,
                          apply_seconds=apply_seconds,
                          upload_seconds=time.perf_counter() - started)

    def _check_path(self, edge: UserEdge, path: str) -> str:
        path = normalize_path(path)
        facts = edge.provider.facts
        if facts.max_path_length is not None and len(path) > facts.max_path_length:
            raise InvalidPathError(f"{path}: the {edge.provider.name} provider takes paths of "
                                   f"at most {facts.max_path_length} characters", path=path)
        bad = sorted({char for char in path if char in facts.invalid_path_chars})
        if bad:
            raise InvalidPathError(f"{path}: the {edge.provider.name} provider refuses the "
                                   f"character(s) {' '.join(bad)}", path=path)
        return path

    # --- reading and deleting ----------------------------------------------------

    def record(self, user: str, path: str) -> FileRecord:
        """The edge's record of ``path``.

        :raises NotFoundError: the edge holds no version of it.
        """
        edge = self.user(user)
        path = normalize_path(path)
        record = edge.store.get(path)
        if record is None:
            raise NotFoundError(f"the edge holds no version of {path}", path=path)
        return record

    def records(self, user: str) -> list[FileRecord]:
        """Every file the edge holds for ``user``."""
        return self.user(user).store.records()

    def open(self, user: str, path: str) -> tuple[FileRecord, BinaryIO]:
        """The current version of ``path``, to send to a device that has none.

        With no version at the edge, the cloud's file is fetched and kept as
        the edge's version (a new device bootstrapping after the edge lost its
        store).

        :returns: the record and an open file (close it).
        :raises NotFoundError: neither the edge nor the cloud has the file.
        """
        edge = self.user(user)
        path = self._check_path(edge, path)
        record = edge.store.get(path)
        if record is None or not edge.store.has_blob(record.sha256):
            def fetch() -> tuple[bytes, str]:
                buffer = io.BytesIO()
                entry = edge.provider.get(path, buffer)
                return buffer.getvalue(), entry.revision

            data, revision = edge.uploader.call_with_retries(fetch)
            digest = edge.store.put_bytes(data)
            with edge.uploader.path_lock(path):
                edge.store.commit(path, digest, len(data), expect=True,
                                  cloud_revision=revision, cloud_sha256=digest)
                record = edge.store.update(path, digest, state=UploadState.UPLOADED,
                                           cloud_revision=revision, cloud_sha256=digest)
            assert record is not None
        return record, edge.store.open_blob(record.sha256)

    def delete(self, user: str, path: str, *, expect: str | bool = True) -> FileRecord:
        """Delete ``path`` at the edge and in the cloud (if the cloud's file is the edge's).

        :raises NotFoundError: the edge holds no version of it.
        :raises BaseMismatchError: ``expect`` is not the edge's version.
        :raises RevisionConflictError: the cloud's file changed elsewhere; nothing was deleted.
        :raises ProviderError: the cloud failed (after retries); nothing was deleted.
        """
        edge = self.user(user)
        path = normalize_path(path)
        with edge.uploader.path_lock(path):
            record = self.record(user, path)
            if expect is not True and record.sha256 != expect:
                raise BaseMismatchError(f"{path}: the edge holds another version than the one "
                                        "named; nothing was deleted", expected=str(expect),
                                        actual=record.sha256)
            if record.cloud_revision is not None:
                edge.uploader.call_with_retries(
                    lambda: self._delete_in_cloud(edge, path, record.cloud_revision))
            edge.store.remove(path, expect=record.sha256)
        return record

    @staticmethod
    def _delete_in_cloud(edge: UserEdge, path: str, revision: str) -> None:
        try:
            edge.provider.delete(path, if_match=revision)
        except NotFoundError:
            pass  # already gone: the goal is reached
