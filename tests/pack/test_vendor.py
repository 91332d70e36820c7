"""Resolving an edge's pure-Python closure for a target Python, against a local wheel index.

Each test builds a few tiny wheels into a folder and resolves with
``--no-index --find-links`` that folder, so nothing leaves the machine and
the answers are known.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from edgesync.errors import PackError
from edgesync.pack.vendor import (
    MIN_PYTHON,
    TargetPython,
    check_target_version,
    install,
    resolve,
)


def make_wheel(folder: Path, name: str, version: str = "1.0", *, requires: tuple[str, ...] = (),
               tag: str = "py3-none-any", requires_python: str = "",
               files: dict[str, str] | None = None) -> Path:
    """A minimal valid wheel: one module (or ``files``), METADATA, WHEEL, RECORD."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = name.replace("-", "_")
    wheel = folder / f"{dist}-{version}-{tag}.whl"
    info = f"{dist}-{version}.dist-info"
    meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    meta += [f"Requires-Python: {requires_python}"] if requires_python else []
    meta += [f"Requires-Dist: {req}" for req in requires]
    content = files if files is not None else {f"{dist}.py": f"NAME = {name!r}\n"}
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in content.items():
            archive.writestr(path, text)
        archive.writestr(f"{info}/METADATA", "\n".join(meta) + "\n")
        archive.writestr(f"{info}/WHEEL", f"Wheel-Version: 1.0\nRoot-Is-Purelib: true\n"
                                          f"Tag: {tag}\n")
        archive.writestr(f"{info}/RECORD", "")
    return wheel


@pytest.fixture
def index(tmp_path: Path) -> Path:
    return tmp_path / "index"


def _resolve(index: Path, tmp_path: Path, roots: list[str], version: str = "3.11", **kwargs):
    return resolve(roots, TargetPython.parse(version), dest=tmp_path / "wheels",
                   pip_args=["--no-index", "--find-links", str(index)], **kwargs)


def test_markers_are_evaluated_for_the_target_not_the_running_python(index, tmp_path):
    make_wheel(index, "app", requires=('old-only; python_version < "3.12"',
                                       'new-only; python_version >= "3.12"',
                                       'nbsd; sys_platform == "netbsd"', "shared>=2"))
    for dep in ("old-only", "new-only", "nbsd"):
        make_wheel(index, dep)
    make_wheel(index, "shared", "1.0")
    make_wheel(index, "shared", "2.5")

    on_311 = _resolve(index, tmp_path / "a", ["app"], "3.11")
    assert {d.name: d.version for d in on_311.dists} == {
        "app": "1.0", "old-only": "1.0", "shared": "2.5"}
    on_312 = resolve(["app"], TargetPython.parse("3.12", sys_platform="netbsd"),
                     dest=tmp_path / "b", pip_args=["--no-index", "--find-links", str(index)])
    assert sorted(d.name for d in on_312.dists) == ["app", "nbsd", "new-only", "shared"]
    shared = next(d for d in on_311.dists if d.name == "shared")
    assert shared.required_by == ("app", "shared")


def test_extras_bring_their_dependencies_and_not_on_edge_prunes_with_the_reason(index, tmp_path):
    make_wheel(index, "sdk", requires=("jwt[crypto]",))
    make_wheel(index, "jwt", requires=('crypto-lib; extra == "crypto"', 'docs; extra == "docs"'))
    make_wheel(index, "crypto-lib", tag="cp311-abi3-manylinux_2_17_x86_64")
    make_wheel(index, "cli-lib")
    make_wheel(index, "app", requires=("sdk", "cli-lib"))
    make_wheel(index, "tool", requires=("cli-lib",))
    closure = _resolve(index, tmp_path, ["app", "tool"],
                       not_on_edge={"*": {"Crypto_Lib": "only for certificates"},
                                    "app": {"cli-lib": "the app's command line"}})
    # cli-lib is left out where app asks for it, but tool needs it too.
    assert sorted(d.name for d in closure.dists) == ["app", "cli-lib", "jwt", "sdk", "tool"]
    assert closure.excluded == {
        "crypto-lib": "only for certificates (required by crypto-lib <- jwt <- sdk <- app)"}
    assert closure.to_json()["left_out"] == closure.excluded


def test_a_compiled_dependency_stops_the_build_naming_it_and_its_chain(index, tmp_path):
    make_wheel(index, "plugin", requires=("sdk",))
    make_wheel(index, "sdk", requires=("speedups>=1",))
    make_wheel(index, "speedups", tag="cp311-cp311-manylinux_2_17_x86_64")
    with pytest.raises(PackError) as caught:
        _resolve(index, tmp_path, ["plugin"])
    message = caught.value.message
    assert "speedups has no pure-Python wheel for Python 3.11" in message
    assert "required by: speedups <- sdk <- plugin" in message
    assert "not_on_edge" in message


def test_conflicting_requirements_are_refused(index, tmp_path):
    make_wheel(index, "a", requires=("b", "c"))
    make_wheel(index, "c", requires=("b<2",))
    make_wheel(index, "b", "1.0")
    make_wheel(index, "b", "2.0")
    with pytest.raises(PackError, match=r"b 2.0 was chosen, but .* needs b<2"):
        _resolve(index, tmp_path, ["a"])


def test_install_unpacks_the_closure_without_bytecode_or_scripts(index, tmp_path):
    make_wheel(index, "app", requires=("lib",),
               files={"app/__init__.py": "", "app/core.py": "X = 1\n"})
    make_wheel(index, "lib")
    closure = _resolve(index, tmp_path, ["app"])
    tree = tmp_path / "tree"
    install(closure, tree)
    assert (tree / "app" / "core.py").read_text() == "X = 1\n"
    assert (tree / "lib.py").is_file()
    assert not list(tree.rglob("__pycache__")) and not (tree / "bin").exists()
    assert not list(tree.glob("*.dist-info/direct_url.json"))  # temp paths: not reproducible
    with pytest.raises(PackError, match="not empty"):
        install(closure, tree)


def test_an_old_target_python_is_refused_with_what_would_work():
    with pytest.raises(PackError) as caught:
        check_target_version(TargetPython.parse("3.5"),
                             alternative="Or use edgesync-pack docker.")
    message = caught.value.message
    assert "needs Python 3.11 or newer" in message and "Python 3.5" in message
    assert "CPython 3.5.2" in message and "Or use edgesync-pack docker." in message
    check_target_version(TargetPython(version=MIN_PYTHON))  # no error
    with pytest.raises(PackError, match="MAJOR.MINOR"):
        TargetPython.parse("three")
