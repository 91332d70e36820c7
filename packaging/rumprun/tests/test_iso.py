"""Tests of the Rock Ridge ISO 9660 writer and reader for rumprun images."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pycdlib
import pytest
from edgesync_pack_rumprun import iso as isomod
from edgesync_pack_rumprun.iso import IsoEntry, extract_iso, read_iso, write_iso

from edgesync.errors import PackError

LONG_NAME = "long_" + "x" * 192 + ".py"  # 200 characters
MODULE_67 = "a_rather_long_module_name_that_pycdlib_would_truncate_badly_wxyz.py"
DEEP = "lvl1/lvl2/lvl3/lvl4/lvl5/lvl6/lvl7"  # 7 folders below the root

assert len(LONG_NAME) == 200
assert len(MODULE_67) == 67


def make_tree(root: Path) -> dict[str, bytes | None]:
    """Build the awkward tree; return each path mapped to its bytes (None: folder)."""
    files = {
        LONG_NAME: b"long name\n",
        MODULE_67: b"VALUE = 67\n",
        "Case.py": b"upper = True\n",
        "case.py": b"lower = True\n",
        "CASE.PY": b"shout = True\n",
        "multi.dots.tar.gz.txt": b"dots\n",
        "we-ird+name~1.py": b"weird\n",
        "pkg/__init__.py": b"",
        "pkg/py.typed": b"",
        "pkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: pkg\n",
        "pkg-1.0.dist-info/RECORD": b"pkg/__init__.py,,\n",
        "bin/run": b"#!/bin/sh\necho hi\n",
        "noext": b"no extension\n",
        ".hidden": b"dot file\n",
        f"{DEEP}/__init__.py": b"DEPTH = 7\n",
        f"{DEEP}/{MODULE_67}": b"deep and long\n",
        "big.bin": bytes(range(256)) * 40,  # spans several 2 KiB blocks
    }
    folders = ["empty", "pkg/empty_sub"]
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(0o644)
    (root / "bin/run").chmod(0o755)
    for rel in folders:
        (root / rel).mkdir(parents=True)

    expected: dict[str, bytes | None] = dict(files)
    for rel in [*files, *(f + "/x" for f in folders)]:
        parts = rel.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            expected["/".join(parts[:i])] = None
    return expected


EXECUTABLES = {"bin/run"}


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, dict[str, bytes | None]]:
    root = tmp_path / "tree"
    root.mkdir()
    return root, make_tree(root)


def build(tree_root: Path, out: Path, **kwargs: object) -> bytes:
    write_iso(tree_root, out, **kwargs)  # type: ignore[arg-type]
    return out.read_bytes()


def scan_host(root: Path) -> dict[str, tuple[bytes | None, int]]:
    """Every entry below ``root``: relative path -> (bytes or None, permission bits)."""
    found: dict[str, tuple[bytes | None, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            st = path.lstat()
            assert stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode), rel
            data = path.read_bytes() if stat.S_ISREG(st.st_mode) else None
            found[rel] = (data, stat.S_IMODE(st.st_mode))
    return found


# --- round trip -----------------------------------------------------------------


def test_read_iso_round_trip(tree: tuple[Path, dict[str, bytes | None]], tmp_path: Path) -> None:
    root, expected = tree
    out = tmp_path / "site.iso"
    write_iso(root, out)

    entries = read_iso(out)

    assert set(entries) == set(expected)
    assert list(entries) == sorted(entries)
    for rel, data in expected.items():
        entry = entries[rel]
        if data is None:
            assert entry == IsoEntry(0o040555, None), rel
            assert entry.is_dir
        else:
            assert entry.data == data, rel
            assert not entry.is_dir
            want = 0o100555 if rel in EXECUTABLES else 0o100444
            assert entry.mode == want, (rel, oct(entry.mode))
            assert entry.executable == (rel in EXECUTABLES)


def test_extract_iso_round_trip(tree: tuple[Path, dict[str, bytes | None]],
                                tmp_path: Path) -> None:
    root, expected = tree
    out = tmp_path / "site.iso"
    write_iso(root, out)
    dest = tmp_path / "dest"

    old_umask = os.umask(0o077)  # the host modes must not depend on the umask
    try:
        extract_iso(out, dest)
    finally:
        os.umask(old_umask)

    found = scan_host(dest)
    assert set(found) == set(expected)
    for rel, data in expected.items():
        got_data, perms = found[rel]
        assert got_data == data, rel
        if data is None:
            assert perms == 0o755, rel
        else:
            assert perms == (0o755 if rel in EXECUTABLES else 0o644), (rel, oct(perms))
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".dest")]


def test_bsdtar_extracts_the_same_tree(tree: tuple[Path, dict[str, bytes | None]],
                                       tmp_path: Path) -> None:
    bsdtar = shutil.which("bsdtar")
    if bsdtar is None:
        pytest.skip("bsdtar is not on PATH (Debian: apt-get install libarchive-tools)")
    root, expected = tree
    out = tmp_path / "site.iso"
    write_iso(root, out)
    dest = tmp_path / "bsdtar"
    dest.mkdir()

    subprocess.run([bsdtar, "-x", "-f", str(out), "-C", str(dest)], check=True,
                   capture_output=True, timeout=30)

    try:
        found = scan_host(dest)
        assert set(found) == set(expected)
        for rel, data in expected.items():
            got_data, perms = found[rel]
            assert got_data == data, rel
            if data is not None:
                assert bool(perms & 0o100) == (rel in EXECUTABLES), (rel, oct(perms))
    finally:  # bsdtar restores the read-only folder modes: let pytest clean up
        for dirpath, _dirs, _files in os.walk(dest):
            os.chmod(dirpath, 0o755)


# --- the primary (ISO 9660) names -------------------------------------------------

FILE_IDENT = re.compile(r"[A-Z0-9_]*\.[A-Z0-9_]{0,3};1")
DIR_IDENT = re.compile(r"[A-Z0-9_]{1,31}")


def test_primary_names_are_valid_and_unique(tree: tuple[Path, dict[str, bytes | None]],
                                            tmp_path: Path) -> None:
    root, _expected = tree
    out = tmp_path / "site.iso"
    write_iso(root, out)

    iso = pycdlib.PyCdlib()
    iso.open(str(out))
    try:
        levels = 0
        for dirpath, dirnames, filenames in iso.walk(iso_path="/"):
            levels = max(levels, dirpath.count("/") if dirpath != "/" else 0)
            assert "RR_MOVED" not in dirnames
            keys = []
            for name in dirnames:
                assert DIR_IDENT.fullmatch(name), (dirpath, name)
                keys.append(name.upper())
            for name in filenames:
                assert FILE_IDENT.fullmatch(name), (dirpath, name)
                ident = name.removesuffix(";1")
                assert len(ident) <= 30, (dirpath, name)
                assert ident.strip(".") != "", (dirpath, name)
                keys.append(ident.upper().rstrip("."))
            assert len(keys) == len(set(keys)), (dirpath, sorted(keys))
        assert levels == 7
    finally:
        iso.close()


def test_identifiers_for_awkward_names() -> None:
    taken: set[str] = set()
    names = [isomod._file_ident(n, taken) for n in ("CASE.PY", "Case.py", "case.py")]
    assert names == ["CASE.PY", "CASE000.PY", "CASE001.PY"]
    long_py = isomod._file_ident(LONG_NAME, set())
    assert long_py == "LONG_" + "X" * 22 + ".PY"  # 30 characters in all
    assert isomod._file_ident("noext", set()) == "NOEXT."
    assert isomod._file_ident("x" * 40, set()) == "X" * 29 + "."
    assert isomod._dir_ident("pkg-1.0.dist-info", set()) == "PKG_1_0_DIST_INFO"
    dirs: set[str] = set()
    assert [isomod._dir_ident("d" * 40, dirs) for _ in range(2)] == ["D" * 31, "DDDDD000"]
    # a folder and an extension-less file of the same name clash too
    mixed: set[str] = set()
    assert isomod._dir_ident("data", mixed) == "DATA"
    assert isomod._file_ident("data", mixed) == "DATA000."


# --- reproducibility ------------------------------------------------------------------


def test_same_tree_same_bytes(tree: tuple[Path, dict[str, bytes | None]], tmp_path: Path) -> None:
    root, _expected = tree
    first = build(root, tmp_path / "a.iso")
    assert build(root, tmp_path / "b.iso") == first

    # A copy with other timestamps and source modes gives the same bytes too.
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    for i, path in enumerate(sorted(copy.rglob("*"))):
        if path.is_file():
            path.chmod(0o700 if path.relative_to(copy).as_posix() in EXECUTABLES else 0o600)
        else:
            path.chmod(0o700)
        os.utime(path, (1_000_000 + i, 2_000_000 + i))
    assert build(copy, tmp_path / "c.iso") == first

    # The order in which the file system lists a folder does not matter.
    real_scandir = os.scandir

    @contextlib.contextmanager
    def reversed_scandir(path: object) -> Iterator[Iterator[os.DirEntry[str]]]:
        with real_scandir(path) as it:  # type: ignore[call-overload]
            entries = list(it)
        yield iter(sorted(entries, key=lambda e: e.name, reverse=True))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "scandir", reversed_scandir)
        assert build(root, tmp_path / "r.iso") == first

    # One changed byte (same length) changes the image.
    (copy / "pkg/__init__.py").write_bytes(b"#")
    (root / "pkg/__init__.py").write_bytes(b"!")
    assert build(copy, tmp_path / "d.iso") != build(root, tmp_path / "e.iso")


def test_bytes_ignore_clock_and_time_zone(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "mod.py").write_bytes(b"x = 1\n")
    first = build(root, tmp_path / "a.iso", epoch=1_700_000_000)

    saved_tz = os.environ.get("TZ")
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)
    os.environ["TZ"] = "XYZ-5:30"  # UTC+05:30, no tzdata needed
    time.tzset()
    try:
        second = build(root, tmp_path / "b.iso", epoch=1_700_000_000)
    finally:
        if saved_tz is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved_tz
        time.tzset()
    assert second == first
    assert build(root, tmp_path / "c.iso", epoch=0) != first

    # The records carry the epoch, in UTC.
    iso = pycdlib.PyCdlib()
    iso.open(str(tmp_path / "a.iso"))
    try:
        date = iso.get_record(rr_path="/mod.py").date
        assert (date.years_since_1900 + 1900, date.month, date.day_of_month,
                date.hour, date.minute, date.second, date.gmtoffset) == \
            (2023, 11, 14, 22, 13, 20, 0)
        assert iso.pvd.volume_creation_date.date_str.startswith(b"20231114221320")
    finally:
        iso.close()
    # pycdlib has its real clock back
    assert pycdlib.pycdlib.time is time
    assert pycdlib.dates.time is time


# --- refusals ------------------------------------------------------------------------


def _too_deep(root: Path) -> Path:
    folder = root / "l1/l2/l3/l4/l5/l6/l7/l8"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_bytes(b"")
    return folder


def _symlink(root: Path) -> Path:
    (root / "pkg").mkdir()
    (root / "pkg/real.py").write_bytes(b"")
    link = root / "pkg/link.py"
    link.symlink_to("real.py")
    return link


def _non_ascii(root: Path) -> Path:
    path = root / "café.py"
    path.write_bytes(b"")
    return path


def _name_255(root: Path) -> Path:
    path = root / ("n" * 252 + ".py")
    path.write_bytes(b"")
    return path


def _fifo(root: Path) -> Path:
    path = root / "pipe"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("make_bad", [_too_deep, _symlink, _non_ascii, _name_255, _fifo],
                         ids=["depth-8", "symlink", "non-ascii", "name-255", "fifo"])
def test_refusals_leave_nothing_behind(make_bad, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "tree"
    root.mkdir()
    (root / "ok.py").write_bytes(b"ok\n")
    bad = make_bad(root)
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    with pytest.raises(PackError) as info:
        write_iso(root, out_dir / "site.iso")

    assert repr(str(bad)) in str(info.value)
    assert list(out_dir.iterdir()) == []


def test_depth_message_names_the_limit(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    _too_deep(root)
    with pytest.raises(PackError, match=r"8 folders below the root.*at most 7"):
        write_iso(root, tmp_path / "site.iso")


def test_failed_build_keeps_the_old_image(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "ok.py").write_bytes(b"ok\n")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "site.iso"
    old = build(root, out)

    (root / "ok.py").write_bytes(b"changed\n")

    def broken(self: pycdlib.PyCdlib, fp: object, *args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pycdlib.PyCdlib, "write_fp", broken)
    with pytest.raises(OSError, match="disk full"):
        write_iso(root, out)
    assert out.read_bytes() == old
    assert [p.name for p in out_dir.iterdir()] == ["site.iso"]

    _non_ascii(root)
    with pytest.raises(PackError):
        write_iso(root, out)
    assert out.read_bytes() == old
    assert [p.name for p in out_dir.iterdir()] == ["site.iso"]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"volume_id": "edgesync"}, "volume id"),
    ({"volume_id": "X" * 33}, "volume id"),
    ({"epoch": -1}, "epoch"),
    ({"epoch": 2**40}, "epoch"),
])
def test_bad_arguments(kwargs: dict[str, object], match: str, tmp_path: Path) -> None:
    with pytest.raises(PackError, match=match):
        write_iso(tmp_path, tmp_path.parent / f"{tmp_path.name}.iso", **kwargs)  # type: ignore[arg-type]


def test_image_inside_tree_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PackError, match="inside"):
        write_iso(tmp_path, tmp_path / "site.iso")
    assert list(tmp_path.iterdir()) == []


def test_extract_refuses_a_non_empty_destination(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "a.py").write_bytes(b"a")
    out = tmp_path / "site.iso"
    write_iso(root, out)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep").write_bytes(b"mine")

    with pytest.raises(PackError, match="empty folder"):
        extract_iso(out, dest)
    assert [p.name for p in dest.iterdir()] == ["keep"]

    empty = tmp_path / "empty"
    empty.mkdir()
    extract_iso(out, empty)
    assert (empty / "a.py").read_bytes() == b"a"


def test_read_refuses_what_is_not_an_image(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.iso"
    bogus.write_bytes(b"\0" * 70_000)
    with pytest.raises(PackError, match="not a readable"):
        read_iso(bogus)
