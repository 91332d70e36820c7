"""What a packaged edge may carry, and the probe that proves a tree is complete."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgesync.errors import PackError
from edgesync.pack.checks import RUMPRUN_STATIC_MODULES, blocked_extensions, check_tree, probe


def _tree(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    tree = tmp_path / "tree"
    for name, content in files.items():
        path = tree / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return tree


def test_a_clean_tree_passes_and_its_sources_are_counted(tmp_path):
    tree = _tree(tmp_path, {"pkg/__init__.py": "", "pkg/mod.py": "match 1:\n case _: pass\n",
                            "pkg/data.json": "{}"})
    assert check_tree(tree, version=(3, 11)) == 2


def test_every_kind_of_problem_is_listed_at_once(tmp_path):
    tree = _tree(tmp_path, {
        "fast/_speed.cpython-311-x86_64-linux-gnu.so": b"\x7fELF",
        "hook.pth": "import os",
        "old/walrus.py": "if (x := 1):\n    pass\n",
        "a/b/c/d/e/f/g/h/deep.py": "",
    })
    os.symlink("hook.pth", tree / "link.pth")
    with pytest.raises(PackError) as caught:
        check_tree(tree, version=(3, 7))
    message = caught.value.message
    assert "extension modules (compiled code): fast/_speed.cpython-311-x86_64-linux-gnu.so" in message
    assert ".pth files" in message and "hook.pth" in message
    assert "symbolic links: link.pth" in message
    assert "sources that do not parse for Python 3.7: old/walrus.py:1" in message
    assert "folders deeper than 7 levels: a/b/c/d/e/f/g/h" in message
    check_tree(_tree(tmp_path / "ok", {"old/walrus.py": "if (x := 1):\n    pass\n"}),
               version=(3, 8))


def test_the_probe_blocks_what_the_static_interpreter_lacks(tmp_path):
    tree = _tree(tmp_path, {"needs_json.py": "import _json\n",
                            "falls_back.py": "import json\nassert json.loads('[1]') == [1]\n"})
    blocked = blocked_extensions(RUMPRUN_STATIC_MODULES)
    assert "_json" in blocked and "_socket" not in blocked and "zlib" not in blocked
    result = probe(tree, imports=["falls_back"], blocked=blocked)
    assert "json" in result.modules and "_json" not in result.modules
    assert result.modules["falls_back"]["where"] == "tree"
    assert set(result.extensions) <= RUMPRUN_STATIC_MODULES
    with pytest.raises(PackError, match=r"No module named '_json' \(not built into"):
        probe(tree, imports=["needs_json"], blocked=blocked)


def test_the_probe_sees_only_the_tree_and_the_standard_library(tmp_path):
    tree = _tree(tmp_path, {"uses_attrs.py": "import attrs\n"})
    # attrs is installed in this virtual environment, but not in the tree.
    with pytest.raises(PackError, match="No module named 'attrs'"):
        probe(tree, imports=["uses_attrs"])
