"""``FaultyProvider`` forwards, records, and fails exactly as asked."""

from __future__ import annotations

import hashlib
import io
import threading
import uuid
from pathlib import Path
from typing import BinaryIO, ClassVar

import pytest

from edgesync.errors import (
    NotFoundError,
    RateLimitedError,
    RevisionConflictError,
    ServiceUnavailableError,
    UnsupportedError,
)
from edgesync.providers.base import Provider
from edgesync.providers.local import LocalOptions, LocalProvider
from edgesync.testing import FaultyProvider, ProviderConformance
from edgesync.types import ProviderFacts, RemoteEntry, Revision, UploadInfo


class DictProvider(Provider):
    """Files in a dict: a provider without resumable upload (the example of base.py)."""

    name = "dict"
    facts = ProviderFacts(hash_types={"sha256"})

    def __init__(self) -> None:
        self.files: dict[str, tuple[Revision, bytes]] = {}
        self.lock = threading.Lock()

    def stat(self, path: str) -> RemoteEntry:
        if path not in self.files:
            raise NotFoundError(f"{path} does not exist", path=path)
        rev, data = self.files[path]
        return RemoteEntry(path=path, size=len(data), revision=rev,
                           hashes={"sha256": hashlib.sha256(data).hexdigest()})

    def get(self, path: str, dest: BinaryIO) -> RemoteEntry:
        entry = self.stat(path)
        dest.write(self.files[path][1])
        return entry

    def put(self, path: str, src: BinaryIO, info: UploadInfo, *,
            if_match: Revision | None = None, create_only: bool = False) -> RemoteEntry:
        data = src.read(info.size)
        with self.lock:
            self.check_precondition(path, if_match, create_only)
            self.files[path] = (Revision(uuid.uuid4().hex), data)
            return self.stat(path)

    def delete(self, path: str, *, if_match: Revision | None = None) -> None:
        with self.lock:
            self.stat(path)  # NotFoundError if absent
            self.check_precondition(path, if_match, False)
            del self.files[path]


@pytest.fixture
def inner(tmp_path: Path) -> LocalProvider:
    return LocalProvider(LocalOptions(root=str(tmp_path / "cloud"), fsync=False))


@pytest.fixture
def faulty(inner: LocalProvider) -> FaultyProvider:
    return FaultyProvider(inner)


def put(provider: Provider, path: str, data: bytes, **conditions) -> RemoteEntry:
    return provider.put(path, io.BytesIO(data), UploadInfo(size=len(data)), **conditions)


# --- forwarding ---------------------------------------------------------------------------


def test_calls_are_forwarded_and_recorded(faulty: FaultyProvider,
                                          inner: LocalProvider) -> None:
    entry = put(faulty, "a.txt", b"hello")
    assert inner.stat("a.txt") == faulty.stat("a.txt") == entry
    dest = io.BytesIO()
    faulty.get("a.txt", dest)
    faulty.delete("a.txt", if_match=entry.revision)

    assert dest.getvalue() == b"hello"
    with pytest.raises(NotFoundError):
        inner.stat("a.txt")
    assert faulty.calls == [("put", "a.txt"), ("stat", "a.txt"), ("get", "a.txt"),
                            ("delete", "a.txt")]


def test_errors_of_the_inner_provider_pass_through(faulty: FaultyProvider) -> None:
    with pytest.raises(NotFoundError):
        faulty.stat("absent.txt")
    assert faulty.calls == [("stat", "absent.txt")]


def test_name_and_facts_are_the_inner_providers(faulty: FaultyProvider,
                                                inner: LocalProvider) -> None:
    assert faulty.name == "local"
    assert faulty.facts is inner.facts
    assert faulty.inner is inner


# --- capabilities -------------------------------------------------------------------------


def test_capabilities_are_the_inner_providers_with_resumable_upload(
        faulty: FaultyProvider, inner: LocalProvider) -> None:
    assert faulty.capabilities == inner.capabilities
    assert faulty.capabilities.supports_resumable_upload
    session = faulty.open_upload_session("big.bin", UploadInfo(size=2))
    session.append(b"ok")
    session.finish()
    assert inner.stat("big.bin").size == 2
    assert faulty.calls == [("open_upload_session", "big.bin")]


def test_capabilities_are_the_inner_providers_without_resumable_upload() -> None:
    inner = DictProvider()
    faulty = FaultyProvider(inner)

    assert isinstance(faulty, FaultyProvider)
    assert faulty.capabilities == inner.capabilities
    assert not faulty.capabilities.supports_resumable_upload
    with pytest.raises(UnsupportedError, match="'dict' provider has no resumable upload"):
        faulty.open_upload_session("big.bin", UploadInfo(size=1))


# --- fail_next ----------------------------------------------------------------------------


def test_fail_next_raises_without_calling_through(faulty: FaultyProvider,
                                                  inner: LocalProvider) -> None:
    error = RateLimitedError("slow down", path="a.txt", retry_after=2.0)
    faulty.fail_next("put", error, times=2)

    for _ in range(2):
        with pytest.raises(RateLimitedError) as raised:
            put(faulty, "a.txt", b"x")
        assert raised.value is error
        with pytest.raises(NotFoundError):  # the request never arrived
            inner.stat("a.txt")
    put(faulty, "a.txt", b"x")  # the queue is spent

    assert inner.stat("a.txt").size == 1
    assert faulty.calls == [("put", "a.txt")] * 3


def test_faults_are_per_method(faulty: FaultyProvider) -> None:
    put(faulty, "a.txt", b"x")
    faulty.fail_next("delete", ServiceUnavailableError("reset"))

    faulty.stat("a.txt")  # not the faulted method
    with pytest.raises(ServiceUnavailableError):
        faulty.delete("a.txt")
    faulty.delete("a.txt")


# --- fail_after ---------------------------------------------------------------------------


def test_fail_after_calls_through_then_raises(faulty: FaultyProvider,
                                              inner: LocalProvider) -> None:
    faulty.fail_after("put", ServiceUnavailableError("connection reset"))

    with pytest.raises(ServiceUnavailableError, match="connection reset"):
        put(faulty, "a.txt", b"stored anyway")

    assert inner.stat("a.txt").size == len(b"stored anyway")
    put(faulty, "b.txt", b"x")  # spent after one call


def test_fail_after_a_failing_call_raises_the_inner_error(faulty: FaultyProvider) -> None:
    faulty.fail_after("delete", ServiceUnavailableError("lost"))

    with pytest.raises(NotFoundError):
        faulty.delete("absent.txt")
    put(faulty, "a.txt", b"x")
    faulty.delete("a.txt")  # the fault was spent on the failed call


def test_faults_are_consumed_in_the_order_queued(faulty: FaultyProvider,
                                                 inner: LocalProvider) -> None:
    faulty.fail_after("put", ServiceUnavailableError("first: after"))
    faulty.fail_next("put", RateLimitedError("second: instead"))
    entry = put(inner, "a.txt", b"v1")

    with pytest.raises(ServiceUnavailableError, match="first"):
        put(faulty, "a.txt", b"v2", if_match=entry.revision)
    with pytest.raises(RateLimitedError, match="second"):
        put(faulty, "a.txt", b"v3")
    # The retry of a write whose response was lost finds its own change.
    with pytest.raises(RevisionConflictError):
        put(faulty, "a.txt", b"v2", if_match=entry.revision)
    dest = io.BytesIO()
    inner.get("a.txt", dest)
    assert dest.getvalue() == b"v2"


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["open_upload_session", "Stat", "list"])
def test_faults_only_for_the_required_methods(faulty: FaultyProvider, method: str) -> None:
    with pytest.raises(ValueError, match="stat, get, put, delete"):
        faulty.fail_next(method, ServiceUnavailableError("x"))


def test_faults_are_edgesync_errors(faulty: FaultyProvider) -> None:
    with pytest.raises(TypeError, match="only edgesync errors, got OSError"):
        faulty.fail_after("get", OSError("raw"))  # type: ignore[arg-type]


@pytest.mark.parametrize("times", [0, -1])
def test_times_is_at_least_one(faulty: FaultyProvider, times: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        faulty.fail_next("stat", ServiceUnavailableError("x"), times=times)


# --- threads ------------------------------------------------------------------------------


def test_each_fault_fails_exactly_one_call_across_threads(faulty: FaultyProvider) -> None:
    put(faulty, "a.txt", b"x")
    faulty.fail_next("stat", ServiceUnavailableError("busy"), times=50)
    failures = []
    start = threading.Barrier(10)

    def hammer() -> None:
        start.wait()
        for _ in range(20):
            try:
                faulty.stat("a.txt")
            except ServiceUnavailableError as exc:
                failures.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(failures) == 50
    assert faulty.calls.count(("stat", "a.txt")) == 200


# --- the conformance suite through the wrapper, without resumable upload ------------------


class TestFaultyDictConformance(ProviderConformance):
    """The wrapper over a provider without resumable upload (and without folders)."""

    known_failures: ClassVar = {
        "test_stat_of_a_folder_raises_not_a_file": "a dict has no folders",
        "test_get_of_a_folder_raises_not_a_file": "a dict has no folders",
    }

    @pytest.fixture
    def provider(self) -> FaultyProvider:
        return FaultyProvider(DictProvider())
