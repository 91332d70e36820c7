"""``edgesync-pack rumprun``: what it reads from a rumprun python.iso, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from edgesync_pack_rumprun.cli import builtin_modules_from_setup, pack_rumprun, python_iso_facts
from edgesync_pack_rumprun.iso import write_iso

from edgesync.errors import PackError

SETUP = """\
# Modules/Setup as a static rumprun build leaves it
*static*
_json _json.c      # compiled in
array arraymodule.c
zlib zlibmodule.c -lz
PYTHONPATH=$(COREPYTHONPATH)
*shared*
_ctypes _ctypes/_ctypes.c
"""


def _stdlib_iso(tmp_path: Path, config: str, files: dict[str, str]) -> Path:
    tree = tmp_path / "stdlib"
    (tree / config).mkdir(parents=True)
    (tree / "site-packages").mkdir()
    (tree / "os.py").write_text("# os\n")
    for name, text in files.items():
        (tree / config / name).write_text(text)
    write_iso(tree, tmp_path / "python.iso")
    return tmp_path / "python.iso"


def test_setup_files_name_the_static_modules():
    assert builtin_modules_from_setup([SETUP]) == {"_json", "array", "zlib"}
    assert builtin_modules_from_setup(["*shared*\n_json _json.c\n"]) == set()


def test_the_version_and_modules_come_from_the_stdlib_image(tmp_path):
    iso = _stdlib_iso(tmp_path, "config-3.12-x86_64-netbsd", {"Setup": SETUP})
    assert python_iso_facts(iso) == ("3.12", {"_json", "array", "zlib"})
    bare = _stdlib_iso(tmp_path / "b", "config-3.11", {})
    assert python_iso_facts(bare) == ("3.11", None)


def test_the_stock_rumprun_python_is_refused_with_what_would_work(tmp_path):
    iso = _stdlib_iso(tmp_path, "config-3.5m", {"Setup": SETUP})
    result = CliRunner().invoke(pack_rumprun, ["--provider", "local", "--out",
                                               str(tmp_path / "out"), "--python-iso", str(iso)])
    assert result.exit_code == 2
    assert "the target has Python 3.5, which cannot run it" in result.output
    assert "build a rumprun python.bin and python.iso from CPython 3.11" in result.output
    assert "edgesync-pack docker" in result.output
    assert not (tmp_path / "out").exists()


def test_refusals_before_any_work(tmp_path):
    iso = _stdlib_iso(tmp_path, "config-3.11", {})
    runner = CliRunner()
    mismatch = runner.invoke(pack_rumprun, ["--provider", "local", "--out", str(tmp_path / "o"),
                                            "--python-iso", str(iso), "--python-version", "3.12"])
    assert mismatch.exit_code == 2 and "disagrees with" in mismatch.output
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    taken = runner.invoke(pack_rumprun, ["--provider", "local", "--out", str(busy)])
    assert taken.exit_code == 2 and "not an empty folder" in taken.output
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]
    xen = runner.invoke(pack_rumprun, ["--provider", "local", "--out", str(tmp_path / "x"),
                                       "--platform", "xen"])
    assert xen.exit_code == 2 and "needs --bridge" in xen.output
    nothing = tmp_path / "not-stdlib"
    (nothing / "tree").mkdir(parents=True)
    (nothing / "tree" / "a.txt").write_text("x")
    write_iso(nothing / "tree", nothing / "x.iso")
    with pytest.raises(PackError, match="does not look like a CPython standard library"):
        python_iso_facts(nothing / "x.iso")


def test_the_launchers_default_count_comes_from_the_settings(tmp_path, capsys):
    from edgesync_pack_rumprun.launcher import LaunchConfig, main

    LaunchConfig(platform="qemu", python_version="3.11", python_bin="python.bin",
                 python_iso="python.iso", provider="local", instances=3).dump(
        tmp_path / "launch.json")
    for name in ("python.bin", "python.iso", "main.iso"):
        (tmp_path / name).write_bytes(b"")
    assert main(["create", "--dry-run"], here=tmp_path) == 0
    assert capsys.readouterr().out.count("rumprun qemu") == 3
    assert main(["create", "1", "--dry-run"], here=tmp_path) == 0
    assert capsys.readouterr().out.count("rumprun qemu") == 1
