"""VersionStore: content by hash, records with preconditions, collection, persistence."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from pathlib import Path

import pytest

from edgesync.edge.store import FileRecord, UploadState, VersionStore
from edgesync.errors import BaseMismatchError, ConfigError, LimitExceededError


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_under(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its content (what 'nothing changed' compares)."""
    return {str(path.relative_to(root)): path.read_bytes()
            for path in sorted(root.rglob("*")) if path.is_file()}


def index(store: VersionStore) -> dict:
    """index.json as parsed JSON (fails the test if it is not valid JSON)."""
    return json.loads((store.root / "index.json").read_text("utf-8"))


def assert_index_matches(store: VersionStore) -> None:
    data = index(store)
    assert data["format"] == 1
    assert data["files"] == {record.path: record.to_dict() for record in store.records()}


@pytest.fixture
def store(tmp_path) -> VersionStore:
    """An empty store in ``tmp_path/store`` (fsync off: throwaway data)."""
    return VersionStore(tmp_path / "store", fsync=False)


def save(store: VersionStore, path: str, data: bytes, **kwargs) -> FileRecord:
    """Store ``data`` and commit it as the version of ``path``."""
    return store.commit(path, store.put_bytes(data), len(data), **kwargs)


# --- content -----------------------------------------------------------------------------


def test_a_new_store_makes_its_folders_and_has_no_records(tmp_path):
    store = VersionStore(tmp_path / "a" / "b", fsync=True)
    assert (tmp_path / "a" / "b" / "objects").is_dir()
    assert (tmp_path / "a" / "b" / "tmp").is_dir()
    assert store.records() == [] and store.get("x") is None


def test_put_bytes_stores_content_by_its_sha256(store):
    digest = store.put_bytes(b"hello")
    assert digest == sha(b"hello")
    assert store.has_blob(digest)
    assert store.blob_path(digest) == store.root / "objects" / digest[:2] / digest
    assert store.read_blob(digest) == b"hello"
    with store.open_blob(digest) as blob:
        assert blob.read() == b"hello"
    assert store.put_bytes(b"hello") == digest  # idempotent
    assert list((store.root / "tmp").iterdir()) == []


def test_put_stream_reads_exactly_the_declared_length(store):
    stream = io.BytesIO(b"0123456789tail")
    assert store.put_stream(stream, 10, limit=100) == (sha(b"0123456789"), 10)
    assert stream.read() == b"tail"


def test_put_stream_without_a_length_reads_to_the_end(store):
    data = bytes(range(256)) * 5000  # more than one internal chunk
    assert store.put_stream(io.BytesIO(data), None, limit=len(data)) == (sha(data), len(data))
    assert store.read_blob(sha(data)) == data


def test_put_stream_of_nothing_stores_empty_content(store):
    assert store.put_stream(io.BytesIO(b""), 0, limit=10) == (sha(b""), 0)
    assert store.read_blob(sha(b"")) == b""


@pytest.mark.parametrize("length", [None, 11])
def test_put_stream_over_the_limit_keeps_nothing(store, length):
    before = files_under(store.root)
    with pytest.raises(LimitExceededError) as info:
        store.put_stream(io.BytesIO(b"x" * 11), length, limit=10)
    assert info.value.limit == "max_file_size"
    assert files_under(store.root) == before
    assert list((store.root / "tmp").iterdir()) == []
    assert not store.has_blob(sha(b"x" * 11))


def test_put_stream_at_the_limit_is_accepted(store):
    assert store.put_stream(io.BytesIO(b"x" * 10), None, limit=10)[1] == 10


def test_put_stream_shorter_than_declared_is_a_value_error_and_keeps_nothing(store):
    before = files_under(store.root)
    with pytest.raises(ValueError, match="ended after 5 of 9 bytes"):
        store.put_stream(io.BytesIO(b"short"), 9, limit=100)
    assert files_under(store.root) == before
    assert list((store.root / "tmp").iterdir()) == []


# --- records -----------------------------------------------------------------------------


def test_commit_makes_a_pending_record(store):
    record = save(store, "a/b.txt", b"one", cloud_revision="r1", cloud_sha256=sha(b"zero"))
    assert (record.path, record.sha256, record.size) == ("a/b.txt", sha(b"one"), 3)
    assert record.state == UploadState.PENDING
    assert (record.cloud_revision, record.cloud_sha256) == ("r1", sha(b"zero"))
    assert record.conflict_path is None and record.error is None
    assert store.get("a/b.txt") == record
    assert store.records() == [record]
    assert_index_matches(store)


def test_records_are_sorted_by_path(store):
    for path in ("c", "a", "b/z", "b"):
        save(store, path, path.encode())
    assert [record.path for record in store.records()] == ["a", "b", "b/z", "c"]


def test_commit_with_expect_none_creates_only(store):
    save(store, "a", b"one", expect=None)
    digest = store.put_bytes(b"two")
    with pytest.raises(BaseMismatchError) as info:
        store.commit("a", digest, 3, expect=None)
    assert (info.value.expected, info.value.actual) == ("", sha(b"one"))


def test_commit_with_expect_sha_needs_that_version(store):
    save(store, "a", b"one")
    save(store, "a", b"two", expect=sha(b"one"))
    assert store.get("a").sha256 == sha(b"two")


def test_commit_with_expect_sha_on_a_missing_path_is_refused(store):
    with pytest.raises(BaseMismatchError) as info:
        save(store, "a", b"one", expect=sha(b"zero"))
    assert (info.value.expected, info.value.actual) == (sha(b"zero"), "")
    assert store.get("a") is None


def test_commit_with_expect_true_takes_anything(store):
    save(store, "a", b"one", expect=True)
    save(store, "a", b"two", expect=True)
    assert store.get("a").sha256 == sha(b"two")


def test_a_refused_commit_changes_nothing_on_disk(store):
    save(store, "a", b"one")
    before = files_under(store.root)
    record = store.get("a")
    digest = store.put_bytes(b"two")
    with pytest.raises(BaseMismatchError) as info:
        store.commit("a", digest, 3, expect=sha(b"zero"))
    assert (info.value.expected, info.value.actual) == (sha(b"zero"), sha(b"one"))
    assert files_under(store.root) == before  # the refused content is gone, index unchanged
    assert store.get("a") == record


def test_update_changes_fields_of_the_current_version(store):
    record = save(store, "a", b"one")
    updated = store.update("a", record.sha256, state=UploadState.UPLOADED, cloud_revision="r9")
    assert updated.state == UploadState.UPLOADED and updated.cloud_revision == "r9"
    assert updated.sha256 == record.sha256 and updated.updated >= record.updated
    assert store.get("a") == updated
    assert_index_matches(store)


def test_update_is_ignored_when_the_version_changed_meanwhile(store):
    old = save(store, "a", b"one")
    new = save(store, "a", b"two")
    assert store.update("a", old.sha256, state=UploadState.UPLOADED) is None
    assert store.get("a") == new
    assert store.update("missing", old.sha256, state=UploadState.UPLOADED) is None
    assert store.get("missing") is None


def test_remove_forgets_the_path_and_its_content(store):
    record = save(store, "a", b"one")
    assert store.remove("a") == record
    assert store.get("a") is None and not store.has_blob(record.sha256)
    assert store.remove("a") is None  # nothing left to remove
    assert_index_matches(store)


def test_remove_with_a_stale_expect_deletes_nothing(store):
    record = save(store, "a", b"one")
    before = files_under(store.root)
    with pytest.raises(BaseMismatchError) as info:
        store.remove("a", expect=sha(b"zero"))
    assert (info.value.expected, info.value.actual) == (sha(b"zero"), record.sha256)
    assert files_under(store.root) == before
    assert store.remove("a", expect=record.sha256) == record


# --- garbage collection ------------------------------------------------------------------


def test_replaced_content_is_collected(store):
    old = save(store, "a", b"one")
    save(store, "a", b"two")
    assert not store.has_blob(old.sha256)
    assert store.has_blob(sha(b"two"))


def test_content_shared_by_two_paths_stays_until_both_go(store):
    save(store, "a", b"same")
    save(store, "b", b"same")
    save(store, "a", b"other")
    assert store.has_blob(sha(b"same"))
    store.remove("b")
    assert not store.has_blob(sha(b"same"))


def test_stored_content_is_pinned_until_it_is_committed(store):
    save(store, "a", b"same")
    digest = store.put_bytes(b"same")  # a second save of the same bytes, to another path
    store.remove("a")  # no record refers to it now, but the save above is in flight
    assert store.has_blob(digest)
    store.commit("b", digest, 4)
    assert store.read_blob(digest) == b"same"


def test_content_pinned_twice_survives_one_refused_commit(store):
    first = store.put_bytes(b"same")
    second = store.put_bytes(b"same")
    assert first == second
    save(store, "a", b"x")
    with pytest.raises(BaseMismatchError):
        store.commit("a", first, 4, expect=None)
    assert store.has_blob(second)  # still pinned by the second put
    store.commit("b", second, 4)
    assert store.read_blob(second) == b"same"


def test_discard_deletes_unused_content(store):
    digest = store.put_bytes(b"refused")
    store.discard(digest)
    assert not store.has_blob(digest)


def test_discard_keeps_content_a_record_refers_to(store):
    record = save(store, "a", b"kept")
    digest = store.put_bytes(b"kept")
    store.discard(digest)
    assert digest == record.sha256 and store.read_blob(digest) == b"kept"


def test_discard_keeps_content_pinned_by_another_save(store):
    digest = store.put_bytes(b"twice")
    store.put_bytes(b"twice")
    store.discard(digest)
    assert store.has_blob(digest)
    store.discard(digest)
    assert not store.has_blob(digest)


# --- state transitions of commit ------------------------------------------------------------


def set_state(store: VersionStore, path: str, state: str) -> FileRecord:
    record = store.get(path)
    return store.update(path, record.sha256, state=state, cloud_sha256=record.sha256,
                        error={"code": "x", "message": "y"})


def test_recommitting_the_uploaded_content_stays_uploaded(store):
    save(store, "a", b"one")
    set_state(store, "a", UploadState.UPLOADED)
    record = save(store, "a", b"one")
    assert record.state == UploadState.UPLOADED
    assert record.error is None


def test_new_content_over_an_uploaded_version_is_pending(store):
    save(store, "a", b"one")
    set_state(store, "a", UploadState.UPLOADED)
    assert save(store, "a", b"two").state == UploadState.PENDING


def test_going_back_to_the_clouds_content_after_a_pending_version_stays_pending(store):
    """Only an uploaded record may stay uploaded: its state is about its own upload."""
    save(store, "a", b"one")
    set_state(store, "a", UploadState.UPLOADED)
    save(store, "a", b"two")
    assert save(store, "a", b"one").state == UploadState.PENDING


def test_a_conflict_stays_a_conflict(store):
    save(store, "a", b"one")
    store.update("a", sha(b"one"), state=UploadState.CONFLICT, conflict_path="a (c)")
    record = save(store, "a", b"two")
    assert record.state == UploadState.CONFLICT and record.conflict_path == "a (c)"


@pytest.mark.parametrize("state", [UploadState.FAILED, UploadState.PENDING])
def test_failed_and_pending_become_pending_and_lose_the_error(store, state):
    save(store, "a", b"one")
    set_state(store, "a", state)
    record = save(store, "a", b"two")
    assert record.state == UploadState.PENDING and record.error is None


def test_a_commit_over_a_record_keeps_the_clouds_revision(store):
    save(store, "a", b"one", cloud_revision="r1", cloud_sha256="c1")
    record = save(store, "a", b"two", cloud_revision="ignored")
    assert (record.cloud_revision, record.cloud_sha256) == ("r1", "c1")


def test_a_commit_over_a_record_may_name_the_devices_base(store):
    save(store, "a", b"one", cloud_revision="r1", cloud_sha256="c1")
    record = save(store, "a", b"two", cloud_sha256="c2")
    assert (record.cloud_revision, record.cloud_sha256) == ("r1", "c2")


# --- persistence ---------------------------------------------------------------------------


def test_a_new_store_on_the_same_folder_sees_the_same_records(tmp_path):
    first = VersionStore(tmp_path, fsync=True)
    save(first, "a.txt", b"one", cloud_revision="r1")
    save(first, "b/c.txt", b"two")
    first.update("b/c.txt", sha(b"two"), state=UploadState.CONFLICT, conflict_path="x",
                 error={"code": "c", "message": "m"})
    second = VersionStore(tmp_path, fsync=True)
    assert second.records() == first.records()
    assert second.read_blob(sha(b"one")) == b"one"


def test_opening_a_store_empties_leftovers_in_tmp(tmp_path):
    VersionStore(tmp_path, fsync=False)
    (tmp_path / "tmp" / "half-written").write_bytes(b"partial")
    VersionStore(tmp_path, fsync=False)
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.parametrize("raw", [b'{"files": {"a": ', b"not json", b"\xff\xfe", b""])
def test_a_corrupt_index_is_a_config_error_that_says_what_to_do(tmp_path, raw):
    VersionStore(tmp_path, fsync=False)
    (tmp_path / "index.json").write_bytes(raw)
    with pytest.raises(ConfigError) as info:
        VersionStore(tmp_path, fsync=False)
    message = str(info.value)
    assert str(tmp_path / "index.json") in message
    assert "backup" in message and "move it away" in message


@pytest.mark.parametrize("data", [[], None, {"files": []}, {"files": {"a": {"bogus": 1}}},
                                  {"files": {"a": {"path": "a"}}}])
def test_an_index_of_the_wrong_shape_is_a_config_error(tmp_path, data):
    (tmp_path / "index.json").write_text(json.dumps(data), "utf-8")
    with pytest.raises(ConfigError, match="move it away"):
        VersionStore(tmp_path, fsync=False)


def test_the_index_is_valid_json_after_every_operation(store):
    steps = [
        lambda: save(store, "a", b"one"),
        lambda: save(store, "b", b"two", expect=None),
        lambda: store.update("a", sha(b"one"), state=UploadState.UPLOADED),
        lambda: save(store, "a", b"three", expect=sha(b"one")),
        lambda: store.remove("b"),
        lambda: store.discard(store.put_bytes(b"four")),
        lambda: store.remove("a", expect=sha(b"three")),
    ]
    for step in steps:
        step()
        assert_index_matches(store)
    assert index(store)["files"] == {}


# --- threads ---------------------------------------------------------------------------------


def test_many_threads_committing_different_paths_all_land(tmp_path):
    store = VersionStore(tmp_path, fsync=False)
    count = 32
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def work(number: int) -> None:
        try:
            barrier.wait()
            for round_ in range(3):
                data = f"{number}-{round_}".encode()
                save(store, f"dir/{number}.txt", data)
                save(store, "shared.txt", b"shared content")  # one blob, many commits
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    expected = {f"dir/{n}.txt": sha(f"{n}-2".encode()) for n in range(count)}
    expected["shared.txt"] = sha(b"shared content")
    assert {record.path: record.sha256 for record in store.records()} == expected
    reopened = VersionStore(tmp_path, fsync=False)
    assert {record.path: record.sha256 for record in reopened.records()} == expected
    for digest in expected.values():
        assert reopened.has_blob(digest)
    blobs = {path.name for path in (tmp_path / "objects").rglob("*") if path.is_file()}
    assert blobs == set(expected.values())  # every replaced version was collected


def test_remember_records_the_cloud_whichever_version_is_current(store, tmp_path):
    save(store, "a", b"one")
    save(store, "a", b"two")  # the version the uploader's write was for is gone
    store.remember("a", cloud_revision="r9", cloud_sha256="c9")
    record = store.get("a")
    assert (record.sha256, record.cloud_revision, record.cloud_sha256) == (
        hashlib.sha256(b"two").hexdigest(), "r9", "c9")
    assert VersionStore(tmp_path / "store").get("a").cloud_revision == "r9"  # persisted
    store.remember("missing", cloud_revision="r1")
    assert store.get("missing") is None
