"""What only the ``local`` provider promises, beyond the conformance suite."""

from __future__ import annotations

import errno
import io
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from edgesync.errors import (
    InvalidPathError,
    NotAFileError,
    PermissionDeniedError,
    ProviderError,
    QuotaExceededError,
    RevisionConflictError,
    ServiceUnavailableError,
)
from edgesync.providers import local
from edgesync.providers.local import RESERVED, LocalOptions, LocalProvider
from edgesync.types import RemoteEntry, UploadInfo


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "cloud"


@pytest.fixture
def provider(root: Path) -> LocalProvider:
    return LocalProvider(LocalOptions(root=str(root), fsync=False))


def put(provider: LocalProvider, path: str, data: bytes, **conditions) -> RemoteEntry:
    return provider.put(path, io.BytesIO(data), UploadInfo(size=len(data)), **conditions)


def content(provider: LocalProvider, path: str) -> bytes:
    dest = io.BytesIO()
    provider.get(path, dest)
    return dest.getvalue()


def leftovers(root: Path) -> list[str]:
    """Partial writes and upload sessions still held under the reserved folder."""
    return sorted(path.name for path in (root / RESERVED).glob("*/*"))


# --- the reserved folder ------------------------------------------------------------------


@pytest.mark.parametrize("path", [RESERVED, f"{RESERVED}/tmp/x", ".EdgeSync-Local/x"])
def test_the_reserved_folder_is_not_a_path(provider: LocalProvider, path: str) -> None:
    with pytest.raises(InvalidPathError, match="reserved by the local provider"):
        put(provider, path, b"x")
    with pytest.raises(InvalidPathError):
        provider.stat(path)
    with pytest.raises(InvalidPathError):
        provider.delete(path)
    with pytest.raises(InvalidPathError):
        provider.open_upload_session(path, UploadInfo(size=1))


# --- revisions see other programs ---------------------------------------------------------


def test_a_file_changed_on_disk_gets_a_new_revision(provider: LocalProvider,
                                                    root: Path) -> None:
    old = put(provider, "report.txt", b"written through edgesync")
    (root / "report.txt").write_bytes(b"rewritten by another program")

    assert provider.stat("report.txt").revision != old.revision
    with pytest.raises(RevisionConflictError):
        put(provider, "report.txt", b"would overwrite", if_match=old.revision)
    assert content(provider, "report.txt") == b"rewritten by another program"


def test_a_same_size_rewrite_in_place_gets_a_new_revision(provider: LocalProvider,
                                                         root: Path) -> None:
    old = put(provider, "report.txt", b"version 1")
    file = root / "report.txt"
    with open(file, "r+b") as out:  # same inode, same size: only the time tells
        out.write(b"version 2")
    st = os.stat(file)
    os.utime(file, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))

    assert provider.stat("report.txt").revision != old.revision


# --- atomicity ----------------------------------------------------------------------------


def test_create_only_has_exactly_one_winner(root: Path) -> None:
    # Two provider objects on one root, as an edge and its agent would have.
    providers = [LocalProvider(LocalOptions(root=str(root), fsync=False)) for _ in range(2)]
    contenders = 16
    start = threading.Barrier(contenders)

    def create(i: int) -> RemoteEntry | RevisionConflictError:
        start.wait()
        try:
            return put(providers[i % 2], "race.txt", f"contender {i}".encode(),
                       create_only=True)
        except RevisionConflictError as exc:
            return exc

    with ThreadPoolExecutor(contenders) as pool:
        results = list(pool.map(create, range(contenders)))

    winners = [i for i, result in enumerate(results) if isinstance(result, RemoteEntry)]
    assert len(winners) == 1
    assert sum(isinstance(result, RevisionConflictError) for result in results) == contenders - 1
    assert content(providers[0], "race.txt") == f"contender {winners[0]}".encode()


def test_puts_into_a_folder_that_a_delete_empties_all_land(provider: LocalProvider) -> None:
    # delete removes the folders it empties; a put into one of them at the same
    # moment must still find (or recreate) its folder.
    rounds = 200
    errors: list[BaseException] = []

    def churn(name: str) -> None:
        try:
            for _ in range(rounds):
                put(provider, f"shared/{name}", b"x")
                provider.delete(f"shared/{name}")
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=churn, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


# --- folders ------------------------------------------------------------------------------


def test_delete_removes_the_folders_it_empties(provider: LocalProvider, root: Path) -> None:
    put(provider, "a/b/c/deep.txt", b"x")
    put(provider, "a/keep.txt", b"x")

    provider.delete("a/b/c/deep.txt")
    assert not (root / "a" / "b").exists()
    assert (root / "a" / "keep.txt").exists()

    provider.delete("a/keep.txt")
    assert sorted(path.name for path in root.iterdir()) == [RESERVED]


def test_a_refused_write_creates_no_folders(provider: LocalProvider, root: Path) -> None:
    gone = put(provider, "x.txt", b"x")
    provider.delete("x.txt")

    with pytest.raises(RevisionConflictError):
        put(provider, "new/folders/x.txt", b"x", if_match=gone.revision)
    assert not (root / "new").exists()


@pytest.mark.parametrize("path", ["file.txt/inside.txt", "file.txt/deeper/inside.txt"])
def test_a_put_under_a_file_is_not_a_file_error(provider: LocalProvider, path: str) -> None:
    put(provider, "file.txt", b"I am a file")

    with pytest.raises(NotAFileError) as raised:
        put(provider, path, b"x")
    assert not raised.value.retryable
    assert content(provider, "file.txt") == b"I am a file"


# --- no partial files ---------------------------------------------------------------------


def test_no_temporary_files_are_left_behind(provider: LocalProvider, root: Path) -> None:
    first = put(provider, "doc.txt", b"original")
    put(provider, "doc.txt", b"second")
    put(provider, "other.txt", b"x", create_only=True)
    with pytest.raises(RevisionConflictError):
        put(provider, "doc.txt", b"stale", if_match=first.revision)
    with pytest.raises(RevisionConflictError):
        put(provider, "doc.txt", b"exists", create_only=True)
    with pytest.raises(ServiceUnavailableError, match="ended 5 bytes before"):
        provider.put("doc.txt", io.BytesIO(b"short"), UploadInfo(size=10))

    assert content(provider, "doc.txt") == b"second"
    assert leftovers(root) == []


def test_upload_sessions_leave_nothing_behind(provider: LocalProvider, root: Path) -> None:
    finished = provider.open_upload_session("big.bin", UploadInfo(size=6))
    finished.append(b"abc")
    finished.append(b"def")
    finished.finish()
    aborted = provider.open_upload_session("gone.bin", UploadInfo(size=6))
    aborted.append(b"abc")
    aborted.abort()
    refused = provider.open_upload_session("big.bin", UploadInfo(size=1), create_only=True)
    refused.append(b"x")
    with pytest.raises(RevisionConflictError):
        refused.finish()

    assert content(provider, "big.bin") == b"abcdef"
    assert leftovers(root) == []


# --- OS errors ----------------------------------------------------------------------------


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs POSIX permissions, which root ignores")
def test_a_read_only_root_is_permission_denied(provider: LocalProvider, root: Path) -> None:
    put(provider, "existing.txt", b"x")
    for folder in (root, root / RESERVED, root / RESERVED / "tmp"):
        folder.chmod(0o555)
    try:
        with pytest.raises(PermissionDeniedError):
            put(provider, "new.txt", b"x")
        with pytest.raises(PermissionDeniedError):
            LocalProvider(LocalOptions(root=str(root), fsync=False))
    finally:
        for folder in (root, root / RESERVED, root / RESERVED / "tmp"):
            folder.chmod(0o755)


def test_opening_a_root_that_refuses_writes_is_permission_denied(
        provider: LocalProvider, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The same as the read-only root above, simulated so that it runs as root too:
    # opening an existing root writes only the case-sensitivity probe.
    def refuse(self: Path, *args, **kwargs) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))

    monkeypatch.setattr(Path, "touch", refuse)
    with pytest.raises(PermissionDeniedError):
        LocalProvider(LocalOptions(root=str(root), fsync=False))


def test_a_path_too_long_for_the_file_system_is_invalid(provider: LocalProvider) -> None:
    # normalize_path allows 1024 characters; in UTF-8 that can exceed PATH_MAX.
    path = "/".join(["😀" * 60] * 17)
    with pytest.raises(InvalidPathError, match="refuses the name"):
        put(provider, path, b"x")


@pytest.mark.parametrize(("code", "expected"), [
    (errno.EACCES, PermissionDeniedError),
    (errno.EPERM, PermissionDeniedError),
    (errno.ENOSPC, QuotaExceededError),
    (errno.EDQUOT, QuotaExceededError),
    (errno.ENAMETOOLONG, InvalidPathError),
    (errno.EIO, ServiceUnavailableError),
])
def test_os_errors_are_translated(provider: LocalProvider, monkeypatch: pytest.MonkeyPatch,
                                  code: int, expected: type[ProviderError]) -> None:
    # Simulated, because a full disk or an I/O error cannot be made on demand
    # (and running as root defeats permissions).
    def failing_open(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(local, "open", failing_open, raising=False)
    with pytest.raises(expected) as raised:
        put(provider, "doc.txt", b"x")
    assert raised.value.path == "doc.txt"
    assert isinstance(raised.value.__cause__, OSError)
