"""Checks of a vendored edge tree: what an image may carry, and that it is complete.

:func:`check_tree` refuses what a rumprun unikernel (or any read-only,
interpreter-only image) cannot use: extension modules, ``.pth`` files,
symbolic links, and source that does not parse for the target Python.
:func:`probe` runs the tree with ``python -I -S`` and only the standard
library beside it, with the extension modules a static interpreter lacks made
unimportable, and reports every module that was loaded and from where.
"""

from __future__ import annotations

import ast
import importlib.machinery
import json
import os
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from edgesync.errors import PackError

__all__ = [
    "RUMPRUN_STATIC_MODULES",
    "Probe",
    "blocked_extensions",
    "check_tree",
    "probe",
    "probe_argv",
    "read_probe",
]

#: The extension modules rumprun-packages compiles into its static Python (the
#: ``Modules/Setup`` lines its patches enable; ``parser``, gone since 3.10, and
#: the third-party ``greenlet`` left out). The edge needs no others: the rest
#: (``_json``, ``_hashlib``, ``_bisect``, ``_heapq``, ...) have pure fallbacks or
#: are optional, which every build proves by importing the edge with them
#: blocked. ``--builtin-modules`` replaces the list with the target's own.
RUMPRUN_STATIC_MODULES: frozenset[str] = frozenset({
    "array", "math", "_struct", "_random", "_elementtree", "_datetime", "unicodedata",
    "fcntl", "select", "_socket", "_ssl", "termios", "_posixsubprocess", "_md5", "_sha1",
    "_sha256", "_sha512", "binascii", "zlib", "_sqlite3", "_csv", "pyexpat",
})

_COMPILED = (".so", ".pyd", ".dylib", ".dll")
_MAX_NAME = 255


def check_tree(tree: Path, *, version: tuple[int, int], max_depth: int = 7) -> int:
    """Refuse what a packaged edge cannot carry; return the number of ``.py`` files.

    :param version: the target Python; every ``.py`` must parse for it (as far
        as this interpreter's parser can tell: it cannot judge syntax newer
        than itself, which is then only parsed for the running version).
    :param max_depth: deepest folder level allowed (Rock Ridge relocates deeper
        ones into a folder that would appear in site-packages).
    :raises PackError: listing every offending file (up to 20), by kind.
    """
    problems: dict[str, list[str]] = {}

    def flag(kind: str, path: Path) -> None:
        problems.setdefault(kind, []).append(str(path.relative_to(tree)))

    feature = min(version, sys.version_info[:2])
    sources = 0
    for root, dirs, files in os.walk(tree):
        here = Path(root)
        depth = len(here.relative_to(tree).parts)
        for name in dirs + files:
            path = here / name
            if path.is_symlink():
                flag("symbolic links", path)
            if len(name.encode("utf-8", "replace")) >= _MAX_NAME or not name.isascii():
                flag("names an ISO image cannot hold (non-ASCII or 255 bytes or more)", path)
        if depth > max_depth:
            flag(f"folders deeper than {max_depth} levels", here)
        for name in files:
            path = here / name
            if name.endswith(_COMPILED):
                flag("extension modules (compiled code)", path)
            elif name.endswith(".pth"):
                flag(".pth files (run code at start-up; rumprun's site-packages is a mount)", path)
            elif name.endswith(".py") and not path.is_symlink():
                sources += 1
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # invalid escapes in third-party code
                        ast.parse(path.read_bytes(), filename=str(path),
                                  feature_version=feature)
                except (SyntaxError, ValueError) as exc:
                    problems.setdefault(
                        f"sources that do not parse for Python {version[0]}.{version[1]}",
                        []).append(f"{path.relative_to(tree)}:{getattr(exc, 'lineno', '?')}: "
                                   f"{getattr(exc, 'msg', exc)}")
    if problems:
        lines = []
        for kind, items in problems.items():
            shown = ", ".join(sorted(items)[:20]) + (" ..." if len(items) > 20 else "")
            lines.append(f"{len(items)} {kind}: {shown}")
        raise PackError(f"the vendored tree {tree} cannot be packaged: " + "; ".join(lines))
    return sources


def blocked_extensions(builtin: Iterable[str], *, python: str | None = None) -> list[str]:
    """Extension modules the running interpreter could load but the target lacks.

    :param builtin: the extension modules compiled into the target interpreter.
    :param python: the interpreter whose ``lib-dynload`` is listed (default: this one).
    """
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    code = ("import sys, os, json; print(json.dumps([os.path.join(p, n) for p in sys.path "
            "if p and os.path.isdir(p) for n in os.listdir(p)]))")
    listing = subprocess.run([python or _base_python(), "-I", "-S", "-c", code],
                             capture_output=True, text=True, check=True).stdout
    names = {Path(file).name.split(".")[0] for file in json.loads(listing)
             if file.endswith(suffixes)}
    return sorted(names - set(builtin))


def _base_python() -> str:
    """The interpreter behind a virtual environment (its stdlib, nothing installed)."""
    return getattr(sys, "_base_executable", None) or sys.executable


@attrs.frozen(kw_only=True)
class Probe:
    """What a probe run loaded.

    :ivar modules: module name -> ``{"where": ..., "file": ...}``; ``where`` is
        ``builtin``, ``tree``, ``stdlib`` or ``outside``, with ``-extension``
        appended for compiled modules.
    :ivar returncode: the child's exit status.
    :ivar output: its standard error (the edge logs there).
    """

    modules: Mapping[str, Mapping[str, Any]]
    returncode: int
    output: str

    @property
    def outside(self) -> list[str]:
        """Modules loaded from neither the tree nor the standard library."""
        return sorted(n for n, m in self.modules.items() if m["where"].startswith("outside"))

    @property
    def extensions(self) -> list[str]:
        """Compiled modules that were loaded (from the standard library's lib-dynload)."""
        return sorted(n for n, m in self.modules.items() if m["where"].endswith("-extension"))


def probe_argv(site: Path, report: Path, *, blocked: Sequence[str] = (),
               imports: Sequence[str] = (), run: Sequence[str] = (),
               python: str | None = None) -> list[str]:
    """The command line of a probe (see :mod:`edgesync.pack._probe`)."""
    argv = [python or _base_python(), "-I", "-S", "-B", str(Path(__file__).with_name("_probe.py")),
            "--site", str(site), "--report", str(report), "--block", ",".join(blocked)]
    if imports:
        argv += ["--import", ",".join(imports)]
    if run:
        argv += ["--run", *run]
    return argv


def read_probe(report: Path, returncode: int, output: str) -> Probe:
    """Parse a probe's report file."""
    try:
        data = json.loads(report.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise PackError(f"the probe wrote no report ({exc}); its output: {output[-2000:]}") \
            from exc
    return Probe(modules=data["modules"], returncode=returncode, output=output)


def probe(site: Path, *, imports: Sequence[str], blocked: Sequence[str] = (),
          timeout: float = 120) -> Probe:
    """Import ``imports`` from ``site`` alone in a fresh ``python -I -S``.

    :raises PackError: an import failed (the message has the traceback's last
        lines), or a module came from outside the tree and the stdlib.
    """
    with tempfile.TemporaryDirectory(prefix="edgesync-probe-") as tmp:
        report = Path(tmp) / "report.json"
        done = subprocess.run(probe_argv(site, report, blocked=blocked, imports=imports),
                              capture_output=True, text=True, timeout=timeout, cwd=tmp,
                              env={"PATH": os.environ.get("PATH", "")}, check=False)
        result = read_probe(report, done.returncode, done.stderr)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-4:])
        raise PackError(f"the vendored edge does not import with only its tree and the "
                        f"standard library (and without the extension modules the target "
                        f"lacks: {', '.join(blocked) or 'none'}):\n{tail}")
    if result.outside:
        raise PackError("modules were loaded from outside the tree and the standard "
                        f"library: {', '.join(result.outside)}")
    return result
