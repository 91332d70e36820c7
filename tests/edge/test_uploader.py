"""The uploader against the local provider with injected faults, and a fake clock.

Delays are recorded by a fake ``sleep``, never waited for; only the
background-queue tests run a thread, and they poll with a deadline.
"""

from __future__ import annotations

import hashlib
import io
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import attrs
import pytest

import edgesync.edge.uploader as uploader_module
from edgesync.edge.store import FileRecord, UploadState, VersionStore
from edgesync.edge.uploader import RetryPolicy, Uploader, UploadQueue, conflict_name
from edgesync.errors import (
    AuthError,
    InvalidPathError,
    NotFoundError,
    RateLimitedError,
    RevisionConflictError,
    ServiceUnavailableError,
)
from edgesync.providers.base import Provider
from edgesync.providers.local import RESERVED, LocalOptions, LocalProvider
from edgesync.testing.fakes import FaultyProvider
from edgesync.testing.waiting import eventually

HASHERS = {"sha256": hashlib.sha256}
POLICY = RetryPolicy(attempts=4, base_delay=0.5, max_delay=8.0, max_wait=30.0)
WHEN = datetime(2026, 11, 25, 23, 15, 0, tzinfo=timezone.utc)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Sleeps(list):
    """A fake ``sleep``: records each delay instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class Wrapper(Provider):
    """Forwards to a local provider; no resumable upload (the base class's default)."""

    name = "wrapper"

    def __init__(self, inner: LocalProvider) -> None:
        self.inner = inner
        self.facts = inner.facts

    def stat(self, path):
        return self.inner.stat(path)

    def get(self, path, dest):
        return self.inner.get(path, dest)

    def put(self, path, src, info, *, if_match=None, create_only=False):
        return self.inner.put(path, src, info, if_match=if_match, create_only=create_only)

    def delete(self, path, *, if_match=None):
        self.inner.delete(path, if_match=if_match)


class Crashing(Wrapper):
    """A buggy plugin: its first ``crashes`` puts raise a non-edgesync exception."""

    def __init__(self, inner: LocalProvider, crashes: int) -> None:
        super().__init__(inner)
        self.crashes = crashes

    def put(self, path, src, info, **kwargs):
        if self.crashes:
            self.crashes -= 1
            raise RuntimeError("plugin bug")
        return super().put(path, src, info, **kwargs)


class MisreportingHash(Wrapper):
    """Stores the right bytes, but its put reports a wrong SHA-256."""

    def put(self, path, src, info, **kwargs):
        entry = super().put(path, src, info, **kwargs)
        return attrs.evolve(entry, hashes={**entry.hashes, "sha256": "0" * 64})


class Corrupting(Wrapper):
    """Damages the last byte of the next ``times`` writes (the cloud really holds bad bytes).

    A write refused by its precondition stores nothing, so it does not count.
    """

    def __init__(self, inner: LocalProvider, times: int) -> None:
        super().__init__(inner)
        self.times = times

    def put(self, path, src, info, **kwargs):
        data = src.read(info.size)
        if not self.times:
            return super().put(path, io.BytesIO(data), info, **kwargs)
        damaged = data[:-1] + bytes([data[-1] ^ 0xFF])
        entry = super().put(path, io.BytesIO(damaged), info, **kwargs)
        self.times -= 1
        return entry


class SmallPuts(LocalProvider):
    """The local provider, declaring that one put takes at most 1000 bytes.

    :ivar pieces: the size of every piece appended to an upload session.
    :ivar fail_pieces: how many appends fail (transiently) before they succeed.
    """

    def __init__(self, options: LocalOptions) -> None:
        super().__init__(options)
        self.facts = attrs.evolve(self.facts, max_single_put_size=1000)
        self.pieces: list[int] = []
        self.fail_pieces = 0

    def put(self, path, src, info, **kwargs):
        raise AssertionError("a file above max_single_put_size must not be sent in one put")

    def open_upload_session(self, path, info, **kwargs):
        session = super().open_upload_session(path, info, **kwargs)
        append = session.append

        def recording_append(data: bytes) -> None:
            if self.fail_pieces and self.pieces:
                self.fail_pieces -= 1
                raise ServiceUnavailableError("connection reset mid-upload")
            self.pieces.append(len(data))
            append(data)

        session.append = recording_append
        return session


class SmallPutsWithoutSessions(Wrapper):
    """A provider limited to 1000 bytes per put and without resumable upload."""

    def __init__(self, inner: LocalProvider) -> None:
        super().__init__(inner)
        self.facts = attrs.evolve(inner.facts, max_single_put_size=1000)


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def cloud_dir(tmp_path) -> Path:
    return tmp_path / "cloud"


@pytest.fixture
def local(cloud_dir) -> LocalProvider:
    """The local provider on ``tmp_path/cloud`` (what plays the cloud)."""
    return LocalProvider(LocalOptions(root=str(cloud_dir), fsync=False))


@pytest.fixture
def cloud(local) -> FaultyProvider:
    """``local`` behind a FaultyProvider, so tests can queue faults."""
    return FaultyProvider(local)


@pytest.fixture
def store(tmp_path) -> VersionStore:
    return VersionStore(tmp_path / "store", fsync=False)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_uploader(store, sleeps):
    def make(provider: Provider, policy: RetryPolicy = POLICY) -> Uploader:
        return Uploader(provider, store, HASHERS, policy=policy, sleep=sleeps)
    return make


@pytest.fixture
def uploader(make_uploader, cloud) -> Uploader:
    return make_uploader(cloud)


@pytest.fixture
def frozen(monkeypatch):
    """Freeze the uploader's clock at WHEN, so conflict copies have a known name."""

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return WHEN if tz is None else WHEN.astimezone(tz)

    monkeypatch.setattr(uploader_module, "datetime", Frozen)
    return WHEN


def commit(store: VersionStore, path: str, data: bytes, **kwargs) -> FileRecord:
    return store.commit(path, store.put_bytes(data), len(data), **kwargs)


def cloud_files(root: Path) -> dict[str, bytes]:
    """The synced files under the cloud's root (not the provider's own folder)."""
    return {path.relative_to(root).as_posix(): path.read_bytes()
            for path in sorted(root.rglob("*"))
            if path.is_file() and RESERVED not in path.relative_to(root).parts}


def change_elsewhere(cloud_dir: Path, path: str, data: bytes) -> None:
    """Another device replaces a cloud file (a new inode, so a new revision)."""
    target = cloud_dir / path
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".other")
    tmp.write_bytes(data)
    tmp.replace(target)


# --- retries -------------------------------------------------------------------------------


def test_a_first_upload_succeeds_with_create_only(uploader, store, cloud, local, cloud_dir):
    commit(store, "a/b.txt", b"hello")
    record = uploader.upload("a/b.txt")
    assert record.state == UploadState.UPLOADED and record.error is None
    assert record.cloud_revision == local.stat("a/b.txt").revision
    assert record.cloud_sha256 == sha(b"hello")
    assert cloud_files(cloud_dir) == {"a/b.txt": b"hello"}
    assert cloud.calls == [("put", "a/b.txt")]
    assert uploader.upload("a/b.txt") == record  # nothing more to do
    assert cloud.calls == [("put", "a/b.txt")]


def test_upload_of_a_path_without_a_record_is_none(uploader):
    assert uploader.upload("nothing.txt") is None


def test_service_unavailable_is_retried_then_succeeds(uploader, store, cloud, cloud_dir, sleeps):
    commit(store, "a.txt", b"content")
    cloud.fail_next("put", ServiceUnavailableError("down"), times=2)
    record = uploader.upload("a.txt")
    assert record.state == UploadState.UPLOADED
    assert cloud.calls == [("put", "a.txt")] * 3
    assert len(sleeps) == 2
    assert 0.5 * 0.8 <= sleeps[0] <= 0.5 * 1.2  # backoff: base, then doubled
    assert 1.0 * 0.8 <= sleeps[1] <= 1.0 * 1.2
    assert cloud_files(cloud_dir) == {"a.txt": b"content"}


def test_rate_limited_waits_exactly_the_retry_after(uploader, store, cloud, sleeps):
    commit(store, "a.txt", b"content")
    cloud.fail_next("put", RateLimitedError("slow down", retry_after=2.0))
    assert uploader.upload("a.txt").state == UploadState.UPLOADED
    assert sleeps == [2.0]


def test_a_retry_after_longer_than_max_wait_leaves_it_pending(uploader, store, cloud, sleeps,
                                                            cloud_dir):
    commit(store, "a.txt", b"content")
    cloud.fail_next("put", RateLimitedError("come back in an hour", retry_after=3600.0))
    record = uploader.upload("a.txt")
    assert sleeps == []
    assert record.state == UploadState.PENDING
    assert record.error == {"code": "rate_limited", "message": "come back in an hour"}
    assert cloud.calls == [("put", "a.txt")]
    assert cloud_files(cloud_dir) == {}


def test_when_the_attempts_are_used_up_it_stays_pending(uploader, store, cloud, sleeps,
                                                       cloud_dir):
    commit(store, "a.txt", b"content")
    cloud.fail_next("put", ServiceUnavailableError("down"), times=10)
    record = uploader.upload("a.txt")
    assert record.state == UploadState.PENDING
    assert record.error["code"] == "service_unavailable"
    assert len(cloud.calls) == POLICY.attempts and len(sleeps) == POLICY.attempts - 1
    assert cloud_files(cloud_dir) == {}
    assert store.read_blob(record.sha256) == b"content"  # the version is kept


def test_attempts_argument_overrides_the_policy(uploader, store, cloud, sleeps):
    commit(store, "a.txt", b"content")
    cloud.fail_next("put", ServiceUnavailableError("down"), times=10)
    assert uploader.upload("a.txt", attempts=1).state == UploadState.PENDING
    assert len(cloud.calls) == 1 and sleeps == []


def test_a_fatal_auth_error_fails_at_once(uploader, store, cloud, sleeps, cloud_dir):
    commit(store, "a.txt", b"content")
    cloud.fail_next("put", AuthError("the account was unlinked"))
    record = uploader.upload("a.txt")
    assert record.state == UploadState.FAILED
    assert record.error == {"code": "auth_error", "message": "the account was unlinked"}
    assert cloud.calls == [("put", "a.txt")] and sleeps == []
    assert cloud_files(cloud_dir) == {}


def test_a_refused_path_fails_without_retries(uploader, store, cloud, sleeps):
    commit(store, "a.txt", b"content")
    cloud.fail_next("put", InvalidPathError("the service refuses this name", path="a.txt"))
    record = uploader.upload("a.txt")
    assert record.state == UploadState.FAILED and record.error["code"] == "invalid_path"
    assert cloud.calls == [("put", "a.txt")] and sleeps == []


def test_a_failed_version_is_tried_again_on_the_next_upload(uploader, store, cloud):
    commit(store, "a.txt", b"content")
    cloud.fail_next("put", AuthError("unlinked"))
    assert uploader.upload("a.txt").state == UploadState.FAILED
    assert uploader.upload("a.txt").state == UploadState.UPLOADED


def test_a_plugin_crash_is_logged_and_retried_as_transient(make_uploader, store, local,
                                                          cloud_dir, sleeps, caplog):
    provider = Crashing(local, crashes=1)
    commit(store, "a.txt", b"content")
    with caplog.at_level(logging.ERROR, logger="edgesync.edge"):
        record = make_uploader(provider).upload("a.txt")
    assert record.state == UploadState.UPLOADED
    assert len(sleeps) == 1
    assert cloud_files(cloud_dir) == {"a.txt": b"content"}
    [entry] = [r for r in caplog.records if "failed unexpectedly" in r.getMessage()]
    assert entry.exc_info is not None and "plugin bug" in str(entry.exc_info[1])


def test_a_plugin_that_keeps_crashing_leaves_the_version_pending(make_uploader, store, local,
                                                                cloud_dir, caplog):
    provider = Crashing(local, crashes=100)
    commit(store, "a.txt", b"content")
    with caplog.at_level(logging.ERROR, logger="edgesync.edge"):
        record = make_uploader(provider).upload("a.txt")
    assert record.state == UploadState.PENDING
    assert record.error["code"] == "service_unavailable"
    assert "RuntimeError('plugin bug')" in record.error["message"]
    assert provider.crashes == 100 - POLICY.attempts
    assert cloud_files(cloud_dir) == {}


def test_a_newer_version_committed_during_an_upload_is_not_marked_uploaded(
        make_uploader, store, local):
    """The outcome is recorded only for the version that was uploaded."""

    class CommitsMeanwhile(Wrapper):
        def put(self, path, src, info, **kwargs):
            entry = super().put(path, src, info, **kwargs)
            commit(store, path, b"newer")  # a device saved again during the upload
            return entry

    commit(store, "a.txt", b"older")
    uploader = make_uploader(CommitsMeanwhile(local))
    record = uploader.upload("a.txt")  # reports the current record: the newer version
    assert record == store.get("a.txt")
    assert record.sha256 == sha(b"newer") and record.state == UploadState.PENDING
    # The edge remembers its own write of the older version, so uploading the
    # newer one replaces it instead of taking it for a change made elsewhere.
    assert record.cloud_revision == local.stat("a.txt").revision
    final = make_uploader(local).upload("a.txt")
    assert final.state == UploadState.UPLOADED and final.conflict_path is None
    assert local.stat("a.txt").hashes["sha256"] == sha(b"newer")


# --- preconditions and conflicts -------------------------------------------------------------


def test_a_lost_response_adopts_the_clouds_revision(uploader, store, cloud, local, cloud_dir):
    commit(store, "a.txt", b"content")
    cloud.fail_after("put", ServiceUnavailableError("connection reset"))
    record = uploader.upload("a.txt")
    assert record.state == UploadState.UPLOADED and record.conflict_path is None
    assert record.cloud_revision == local.stat("a.txt").revision
    assert cloud_files(cloud_dir) == {"a.txt": b"content"}  # no conflict copy
    assert cloud.calls == [("put", "a.txt"), ("put", "a.txt"), ("stat", "a.txt")]


def test_a_lost_response_on_a_replacement_adopts_too(uploader, store, cloud, local, cloud_dir):
    commit(store, "a.txt", b"one")
    uploader.upload("a.txt")
    commit(store, "a.txt", b"two")
    cloud.fail_after("put", ServiceUnavailableError("connection reset"))
    record = uploader.upload("a.txt")
    assert record.state == UploadState.UPLOADED
    assert record.cloud_revision == local.stat("a.txt").revision
    assert cloud_files(cloud_dir) == {"a.txt": b"two"}


def test_a_change_made_elsewhere_gets_a_conflict_copy(uploader, store, cloud_dir, frozen):
    commit(store, "docs/a.txt", b"one")
    uploader.upload("docs/a.txt")
    change_elsewhere(cloud_dir, "docs/a.txt", b"changed on a phone")
    commit(store, "docs/a.txt", b"two")
    record = uploader.upload("docs/a.txt")
    copy = conflict_name("docs/a.txt", frozen)
    assert copy == "docs/a (edgesync conflict 2026-11-25 231500).txt"
    assert record.state == UploadState.CONFLICT
    assert record.conflict_path == copy and record.conflict_revision
    assert cloud_files(cloud_dir) == {"docs/a.txt": b"changed on a phone", copy: b"two"}


def test_a_newer_version_after_a_conflict_replaces_the_conflict_copy(uploader, store, cloud_dir,
                                                                     frozen):
    commit(store, "a.txt", b"one")
    uploader.upload("a.txt")
    change_elsewhere(cloud_dir, "a.txt", b"changed elsewhere")
    commit(store, "a.txt", b"two")
    first = uploader.upload("a.txt")
    commit(store, "a.txt", b"three")
    record = uploader.upload("a.txt")
    assert record.state == UploadState.CONFLICT and record.conflict_path == first.conflict_path
    assert record.conflict_revision != first.conflict_revision
    assert cloud_files(cloud_dir) == {"a.txt": b"changed elsewhere",
                                      first.conflict_path: b"three"}


def test_a_conflict_copy_changed_elsewhere_gets_a_new_copy(uploader, store, cloud_dir,
                                                           monkeypatch):
    times = iter([WHEN, WHEN + timedelta(seconds=1)])

    class Ticking(datetime):
        @classmethod
        def now(cls, tz=None):
            return next(times)

    monkeypatch.setattr(uploader_module, "datetime", Ticking)
    commit(store, "a.txt", b"one")
    uploader.upload("a.txt")
    change_elsewhere(cloud_dir, "a.txt", b"changed elsewhere")
    commit(store, "a.txt", b"two")
    first = uploader.upload("a.txt").conflict_path
    change_elsewhere(cloud_dir, first, b"the copy was edited")
    commit(store, "a.txt", b"three")
    second = uploader.upload("a.txt").conflict_path
    assert second == conflict_name("a.txt", WHEN + timedelta(seconds=1)) != first
    assert cloud_files(cloud_dir) == {"a.txt": b"changed elsewhere",
                                      first: b"the copy was edited", second: b"three"}


def test_a_file_deleted_elsewhere_is_created_again(uploader, store, cloud, local, cloud_dir):
    commit(store, "a.txt", b"one")
    uploader.upload("a.txt")
    (cloud_dir / "a.txt").unlink()
    commit(store, "a.txt", b"two")
    cloud.calls.clear()
    record = uploader.upload("a.txt")
    assert record.state == UploadState.UPLOADED and record.conflict_path is None
    assert record.cloud_revision == local.stat("a.txt").revision
    assert cloud_files(cloud_dir) == {"a.txt": b"two"}
    assert cloud.calls == [("put", "a.txt"), ("stat", "a.txt"), ("put", "a.txt")]


def test_the_devices_base_in_the_cloud_is_replaced(uploader, store, cloud, local, cloud_dir):
    """No revision known, but the cloud holds the content the device started from."""
    change_elsewhere(cloud_dir, "a.txt", b"base")
    base_revision = local.stat("a.txt").revision
    commit(store, "a.txt", b"edited", cloud_sha256=sha(b"base"))
    record = uploader.upload("a.txt")
    assert record.state == UploadState.UPLOADED and record.conflict_path is None
    assert record.cloud_revision == local.stat("a.txt").revision != base_revision
    assert cloud_files(cloud_dir) == {"a.txt": b"edited"}


def test_another_file_where_the_devices_base_was_expected_is_kept(uploader, store, cloud_dir,
                                                                  frozen):
    change_elsewhere(cloud_dir, "a.txt", b"not the base")
    commit(store, "a.txt", b"edited", cloud_sha256=sha(b"base"))
    record = uploader.upload("a.txt")
    assert record.state == UploadState.CONFLICT
    assert cloud_files(cloud_dir) == {"a.txt": b"not the base",
                                      conflict_name("a.txt", frozen): b"edited"}


def test_a_put_that_reports_a_wrong_hash_is_retried_then_pending(make_uploader, store, local,
                                                                 cloud_dir, sleeps):
    commit(store, "a.txt", b"content")
    record = make_uploader(MisreportingHash(local)).upload("a.txt")
    assert record.state == UploadState.PENDING
    assert record.error["code"] == "service_unavailable"
    assert "hash" in record.error["message"]
    assert len(sleeps) == POLICY.attempts - 1
    assert cloud_files(cloud_dir) == {"a.txt": b"content"}  # no conflict copies


def test_content_damaged_on_the_way_is_replaced_not_taken_for_a_conflict(make_uploader, store,
                                                                         local, cloud_dir):
    """The edge's own damaged write is overwritten by the retry, never kept beside it."""
    provider = Corrupting(local, times=2)
    commit(store, "a.txt", b"content")
    record = make_uploader(provider).upload("a.txt")
    assert record.state == UploadState.UPLOADED and record.conflict_path is None
    assert record.cloud_revision == local.stat("a.txt").revision
    assert cloud_files(cloud_dir) == {"a.txt": b"content"}


def test_content_damaged_every_time_stays_pending_and_is_replaced_later(make_uploader, store,
                                                                        local, cloud_dir):
    provider = Corrupting(local, times=POLICY.attempts)
    uploader = make_uploader(provider)
    commit(store, "a.txt", b"content")
    assert uploader.upload("a.txt").state == UploadState.PENDING
    assert list(cloud_files(cloud_dir)) == ["a.txt"]  # damaged, but no conflict copy
    record = uploader.upload("a.txt")
    assert record.state == UploadState.UPLOADED and record.conflict_path is None
    assert cloud_files(cloud_dir) == {"a.txt": b"content"}


def test_a_damaged_conflict_copy_is_replaced_not_copied_again(store, local, cloud_dir, sleeps,
                                                              frozen):
    Uploader(local, store, HASHERS, policy=POLICY, sleep=sleeps).upload(
        commit(store, "a.txt", b"one").path)
    change_elsewhere(cloud_dir, "a.txt", b"changed elsewhere")
    commit(store, "a.txt", b"two")
    record = Uploader(Corrupting(local, times=1), store, HASHERS, policy=POLICY,
                      sleep=sleeps).upload("a.txt")
    assert record.state == UploadState.CONFLICT
    assert record.conflict_path == conflict_name("a.txt", frozen)
    assert cloud_files(cloud_dir) == {"a.txt": b"changed elsewhere", record.conflict_path: b"two"}


# --- large files -------------------------------------------------------------------------------


def test_a_large_file_goes_up_in_session_pieces(make_uploader, store, cloud_dir, monkeypatch):
    monkeypatch.setattr(uploader_module, "SESSION_PIECE", 1024)
    provider = SmallPuts(LocalOptions(root=str(cloud_dir), fsync=False))
    data = bytes(range(256)) * 19 + b"tail"  # 4868 bytes
    commit(store, "big.bin", data)
    record = make_uploader(provider).upload("big.bin")
    assert record.state == UploadState.UPLOADED
    assert provider.pieces == [1024, 1024, 1024, 1024, len(data) - 4096]
    assert cloud_files(cloud_dir) == {"big.bin": data}
    assert list((cloud_dir / RESERVED / "uploads").iterdir()) == []


def test_a_session_piece_that_fails_is_resumed(make_uploader, store, cloud_dir, monkeypatch,
                                               sleeps):
    monkeypatch.setattr(uploader_module, "SESSION_PIECE", 1024)
    provider = SmallPuts(LocalOptions(root=str(cloud_dir), fsync=False))
    provider.fail_pieces = 2
    data = bytes(range(256)) * 20  # 5120 bytes
    commit(store, "big.bin", data)
    record = make_uploader(provider).upload("big.bin")
    assert record.state == UploadState.UPLOADED
    assert provider.pieces == [1024] * 5
    assert len(sleeps) == 2
    assert cloud_files(cloud_dir) == {"big.bin": data}


def test_a_replacement_by_session_honours_the_precondition(make_uploader, store, cloud_dir,
                                                           monkeypatch, frozen):
    monkeypatch.setattr(uploader_module, "SESSION_PIECE", 1024)
    provider = SmallPuts(LocalOptions(root=str(cloud_dir), fsync=False))
    uploader = make_uploader(provider)
    commit(store, "big.bin", b"a" * 5000)
    uploader.upload("big.bin")
    change_elsewhere(cloud_dir, "big.bin", b"changed elsewhere")
    commit(store, "big.bin", b"b" * 5000)
    record = uploader.upload("big.bin")
    assert record.state == UploadState.CONFLICT
    assert cloud_files(cloud_dir) == {"big.bin": b"changed elsewhere",
                                      conflict_name("big.bin", frozen): b"b" * 5000}
    assert list((cloud_dir / RESERVED / "uploads").iterdir()) == []  # aborted sessions


def test_a_large_file_without_resumable_upload_fails_with_limit_exceeded(make_uploader, store,
                                                                         local, cloud_dir,
                                                                         sleeps):
    provider = SmallPutsWithoutSessions(local)
    assert not provider.capabilities.supports_resumable_upload
    commit(store, "big.bin", b"x" * 5000)
    record = make_uploader(provider).upload("big.bin")
    assert record.state == UploadState.FAILED
    assert record.error["code"] == "limit_exceeded"
    assert "5,000 bytes" in record.error["message"]
    assert sleeps == [] and cloud_files(cloud_dir) == {}


def test_a_small_file_through_a_limited_provider_uses_one_put(make_uploader, store, local,
                                                              cloud_dir):
    commit(store, "small.bin", b"x" * 1000)
    record = make_uploader(SmallPutsWithoutSessions(local)).upload("small.bin")
    assert record.state == UploadState.UPLOADED
    assert cloud_files(cloud_dir) == {"small.bin": b"x" * 1000}


def test_on_upload_is_told_the_size_of_each_write(store, cloud, sleeps):
    seen = []
    uploader = Uploader(cloud, store, HASHERS, policy=POLICY, sleep=sleeps,
                        on_upload=lambda size, seconds: seen.append((size, seconds >= 0)))
    commit(store, "a.txt", b"12345")
    uploader.upload("a.txt")
    assert seen == [(5, True)]


# --- call_with_retries -------------------------------------------------------------------------


def test_call_with_retries_retries_retryable_errors(uploader, sleeps):
    errors = [ServiceUnavailableError("down"), RateLimitedError("slow", retry_after=1.5)]

    def call() -> str:
        if errors:
            raise errors.pop(0)
        return "done"

    assert uploader.call_with_retries(call) == "done"
    assert len(sleeps) == 2 and sleeps[1] == 1.5


@pytest.mark.parametrize("error", [NotFoundError("gone"), RevisionConflictError("changed"),
                                   AuthError("unlinked")])
def test_call_with_retries_raises_other_errors_at_once(uploader, sleeps, error):
    calls = []

    def call() -> None:
        calls.append(1)
        raise error

    with pytest.raises(type(error)):
        uploader.call_with_retries(call)
    assert calls == [1] and sleeps == []


def test_call_with_retries_gives_up_after_the_attempts(uploader, sleeps):
    calls = []

    def call() -> None:
        calls.append(1)
        raise ServiceUnavailableError("down")

    with pytest.raises(ServiceUnavailableError):
        uploader.call_with_retries(call)
    assert len(calls) == POLICY.attempts and len(sleeps) == POLICY.attempts - 1


# --- conflict_name ----------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "copy"), [
    ("report.docx", "report (edgesync conflict 2026-11-25 231500).docx"),
    ("README", "README (edgesync conflict 2026-11-25 231500)"),
    (".bashrc", ".bashrc (edgesync conflict 2026-11-25 231500)"),
    ("a/b/c.txt", "a/b/c (edgesync conflict 2026-11-25 231500).txt"),
    ("archive.tar.gz", "archive.tar (edgesync conflict 2026-11-25 231500).gz"),
    ("v1.2/notes", "v1.2/notes (edgesync conflict 2026-11-25 231500)"),
    ("home/.profile", "home/.profile (edgesync conflict 2026-11-25 231500)"),
    ("Ångström résumé.odt", "Ångström résumé (edgesync conflict 2026-11-25 231500).odt"),
])
def test_conflict_name(path, copy):
    assert conflict_name(path, WHEN) == copy


def test_conflict_name_uses_utc():
    local_time = WHEN.astimezone(timezone(timedelta(hours=9)))
    assert conflict_name("a.txt", local_time) == conflict_name("a.txt", WHEN)


# --- RetryPolicy.delay ----------------------------------------------------------------------


@pytest.mark.parametrize(("attempt", "nominal"), [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0),
                                                  (4, 8.0), (5, 8.0), (30, 8.0)])
def test_delay_is_exponential_capped_and_jittered(attempt, nominal):
    delays = [POLICY.delay(attempt, ServiceUnavailableError("x")) for _ in range(200)]
    assert all(nominal * 0.8 <= delay <= nominal * 1.2 for delay in delays)
    assert len(set(delays)) > 1  # jittered, not constant


@pytest.mark.parametrize("draw", ["low", "high"])
def test_delay_jitter_bounds_are_80_and_120_percent(monkeypatch, draw):
    monkeypatch.setattr(uploader_module.random, "uniform",
                        lambda low, high: low if draw == "low" else high)
    factor = 0.8 if draw == "low" else 1.2
    assert POLICY.delay(2) == pytest.approx(2.0 * factor)
    assert POLICY.delay(9) == pytest.approx(8.0 * factor)


@pytest.mark.parametrize("retry_after", [0.0, 2.0, 100.0])
def test_delay_honours_retry_after_exactly(retry_after):
    assert POLICY.delay(3, RateLimitedError("slow", retry_after=retry_after)) == retry_after


def test_delay_without_retry_after_backs_off():
    assert 0.4 <= POLICY.delay(0, RateLimitedError("slow")) <= 0.6
    assert 0.4 <= POLICY.delay(0) <= 0.6


# --- UploadQueue --------------------------------------------------------------------------------


FAST = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.05, max_wait=1.0,
                   background_max_delay=0.05)


@pytest.fixture
def queue():
    queue = UploadQueue(FAST)
    queue.start()
    yield queue
    queue.stop()


def test_the_queue_uploads_a_pending_version_once_the_cloud_is_back(queue, store, cloud,
                                                                  cloud_dir, sleeps):
    uploader = Uploader(cloud, store, HASHERS, policy=FAST, sleep=sleeps)
    commit(store, "a.txt", b"content")
    cloud.fail_next("put", ServiceUnavailableError("down"), times=5)
    assert uploader.upload("a.txt").state == UploadState.PENDING  # 2 of the 5 faults
    queue.schedule(uploader, "a.txt")
    record = eventually(lambda: (store.get("a.txt").state == UploadState.UPLOADED
                               and store.get("a.txt")))
    assert record.cloud_sha256 == sha(b"content")
    assert cloud_files(cloud_dir) == {"a.txt": b"content"}
    assert cloud.calls == [("put", "a.txt")] * 6
    eventually(lambda: queue.depth() == 0)


def test_the_queue_counts_each_path_once(store, cloud, sleeps):
    queue = UploadQueue(FAST)  # not started: nothing is taken off the queue
    first = Uploader(cloud, store, HASHERS, policy=FAST, sleep=sleeps)
    second = Uploader(cloud, store, HASHERS, policy=FAST, sleep=sleeps)
    assert queue.depth() == 0
    queue.schedule(first, "a.txt")
    queue.schedule(first, "b.txt")
    queue.schedule(first, "a.txt", delay=5.0)
    assert queue.depth() == 2
    queue.schedule(second, "a.txt")  # another user's file of the same name
    assert queue.depth() == 3
    queue.stop()


def test_stop_returns_and_keeps_what_is_pending(store, cloud, sleeps):
    queue = UploadQueue(FAST)
    queue.start()
    uploader = Uploader(cloud, store, HASHERS, policy=FAST, sleep=sleeps)
    commit(store, "a.txt", b"content")
    queue.schedule(uploader, "a.txt", delay=3600.0)
    queue.stop(timeout=30.0)
    assert not queue._thread.is_alive()
    assert store.get("a.txt").state == UploadState.PENDING
    assert cloud.calls == []


def test_the_queue_keeps_retrying_a_failed_version(queue, store, cloud, cloud_dir, sleeps):
    uploader = Uploader(cloud, store, HASHERS, policy=FAST, sleep=sleeps)
    commit(store, "a.txt", b"content")
    cloud.fail_next("put", AuthError("unlinked"), times=3)
    queue.schedule(uploader, "a.txt")
    eventually(lambda: store.get("a.txt").state == UploadState.UPLOADED)
    assert cloud_files(cloud_dir) == {"a.txt": b"content"}

