"""Resolving and vendoring an edge's dependencies: pure-Python wheels for a target Python.

A packaged edge (a unikernel image, a container) carries the ``edgesync``
distribution, one provider plugin and everything they import, and nothing
compiled: a static rumprun interpreter cannot load extension modules. This
module finds that set, for the *target's* Python version rather than the
one running ``edgesync-pack``:

1. The roots are ``edgesync`` and the provider's distribution. An installed
   distribution that came from a local folder (a checkout, ``pip install -e``)
   is built into a wheel from that folder; any other is fetched from the
   package index at its installed version.
2. Dependencies are walked breadth first from each wheel's ``Requires-Dist``,
   with environment markers evaluated for the target (pip evaluates them for
   the running interpreter, pypa/pip#11010, which silently drops or adds
   dependencies). Each round is one ``pip download --no-deps`` restricted to
   pure wheels (``--platform any --implementation py --abi none``) for the
   target version.
3. Dependencies the edge never imports are left out, each with a reason:
   the device-side requirements of ``edgesync`` itself (:data:`CORE_NOT_ON_EDGE`,
   left out only where ``edgesync`` asks for them) and what the provider
   declares in :attr:`~edgesync.types.ProviderSpec.not_on_edge` (left out
   wherever they are asked for).
4. Anything without a pure wheel stops the build with a :class:`PackError`
   that names it and the chain that requires it.

:func:`install` then unpacks the closure into a folder (``pip install
--target``), the tree that :mod:`edgesync.pack.checks` verifies.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from email.parser import BytesParser
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from edgesync.errors import PackError

if TYPE_CHECKING:
    from edgesync.plugins import PluginHost

__all__ = [
    "CORE_NOT_ON_EDGE",
    "MIN_PYTHON",
    "Closure",
    "TargetPython",
    "VendoredDist",
    "check_target_version",
    "edge_roots",
    "install",
    "resolve",
]

#: The oldest Python the edge runs on (``tomllib``, ``ExceptionGroup``-era typing).
MIN_PYTHON = (3, 11)

#: Dependencies of the ``edgesync`` distribution that only the device side
#: imports, with the reason each is left out of a packaged edge.
CORE_NOT_ON_EDGE: Mapping[str, str] = {
    "click": "the 'edgesync' command tree; a packaged edge runs 'python -m edgesync.edge'",
    "watchdog": "the agent's folder watcher (edgesync watch)",
    "rich": "the agent's terminal tables and progress bars",
    "tomli-w": "writes the agent's configuration and edge.toml on the host",
    "platformdirs": "the agent's and the CLI's default folders",
    "packaging": "edgesync-pack's own resolver, on the packaging host",
    "cryptography": "makes the edge's certificate at 'edgesync edge init', on the host; "
                    "the edge serves TLS with the standard ssl module",
}

Progress = Callable[[str], None]


@attrs.frozen(kw_only=True)
class TargetPython:
    """The interpreter a packaged edge will run on.

    :ivar version: ``(major, minor)``.
    :ivar sys_platform: its ``sys.platform`` (rumprun's NetBSD-based libc
        reports ``"netbsd"``; containers ``"linux"``).
    """

    version: tuple[int, int]
    sys_platform: str = "linux"

    @classmethod
    def parse(cls, text: str, **kwargs: str) -> TargetPython:
        """``"3.11"`` -> a target; :raises PackError: not ``MAJOR.MINOR``."""
        match = re.fullmatch(r"\s*(\d+)\.(\d+)(?:\.\d+)?\s*", text)
        if not match:
            raise PackError(f"{text!r} is not a Python version; write it as MAJOR.MINOR, "
                            "e.g. 3.11")
        return cls(version=(int(match.group(1)), int(match.group(2))), **kwargs)

    @property
    def dotted(self) -> str:
        """``"3.11"``."""
        return f"{self.version[0]}.{self.version[1]}"

    def marker_environment(self, extra: str = "") -> dict[str, str]:
        """The values environment markers are evaluated with for this target."""
        system = {"linux": "Linux", "netbsd": "NetBSD", "darwin": "Darwin",
                  "win32": "Windows"}.get(self.sys_platform, self.sys_platform)
        return {
            "python_version": self.dotted,
            "python_full_version": f"{self.dotted}.0",
            "implementation_name": "cpython",
            "platform_python_implementation": "CPython",
            "implementation_version": f"{self.dotted}.0",
            "sys_platform": self.sys_platform,
            "platform_system": system,
            "os_name": "nt" if self.sys_platform == "win32" else "posix",
            "platform_machine": "",
            "platform_release": "",
            "platform_version": "",
            "extra": extra,
        }


def check_target_version(target: TargetPython, *, alternative: str = "") -> None:
    """Refuse a target Python the edge cannot run on, saying what would work.

    :param alternative: a sentence naming another way to package the edge.
    :raises PackError: the version is older than :data:`MIN_PYTHON`.
    """
    if target.version >= MIN_PYTHON:
        return
    need = ".".join(map(str, MIN_PYTHON))
    hint = ""
    if target.version == (3, 5):
        hint = (" Stock rumprun-packages ships CPython 3.5.2, last changed in 2016: build "
                f"a rumprun python.bin and python.iso from CPython {need} or newer with "
                "the same static-module recipe (docs/packaging.md says how).")
    raise PackError(f"the edge needs Python {need} or newer (it uses tomllib, 'X | Y' "
                    f"annotations and dependencies that dropped older versions); the target "
                    f"has Python {target.dotted}, which cannot run it.{hint} {alternative}"
                    .rstrip())


@attrs.frozen(kw_only=True)
class VendoredDist:
    """One distribution in a packaged edge.

    :ivar name: its canonical project name.
    :ivar version: the version vendored.
    :ivar wheel: the wheel file.
    :ivar required_by: the chain from a root, e.g. ``("edgesync", "requests")``.
    """

    name: str
    version: str
    wheel: Path
    required_by: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class Closure:
    """The resolved contents of a packaged edge.

    :ivar dists: every vendored distribution, sorted by name.
    :ivar excluded: dependencies declared but left out, with the reason.
    :ivar target: the Python they were resolved for.
    """

    dists: tuple[VendoredDist, ...]
    excluded: Mapping[str, str]
    target: TargetPython

    def to_json(self) -> dict[str, object]:
        """A JSON-ready summary for manifests."""
        return {"python": self.target.dotted,
                "distributions": {d.name: d.version for d in self.dists},
                "left_out": dict(sorted(self.excluded.items()))}


def edge_roots(provider: str, *,
               host: PluginHost | None = None) -> tuple[list[str], dict[str, dict[str, str]]]:
    """The distributions an edge with ``provider`` needs, and what it leaves out.

    :returns: ``(root distribution names, left out)``, where ``left out`` maps
        a requiring distribution (``"*"``: any) to ``{name: reason}``.
    :raises PluginError: no such provider is installed.
    """
    from edgesync.plugins import PluginHost

    plugins = host if host is not None else PluginHost().load()
    spec = plugins.provider_spec(provider)
    roots = ["edgesync"]
    dist = plugins.provider_distribution(provider)
    if dist is not None:
        roots.append(dist)
    return roots, {"edgesync": dict(CORE_NOT_ON_EDGE), "*": dict(spec.not_on_edge)}


def _pip(args: Sequence[str], what: str) -> str:
    argv = [sys.executable, "-m", "pip", *args]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        detail = "\n".join(line for line in done.stderr.splitlines()
                           if line.startswith("ERROR") or "No matching" in line)
        raise PackError(f"{what} failed: {detail or done.stderr.strip()[-2000:]}")
    return done.stdout


def _pure_args(target: TargetPython) -> list[str]:
    return ["--only-binary=:all:", "--platform", "any", "--implementation", "py",
            "--abi", "none", "--python-version", target.dotted]


def _local_source(name: str) -> Path | None:
    """The folder an installed distribution was installed from, if a local one."""
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    info = json.loads(text)
    url = info.get("url", "")
    if "dir_info" in info and url.startswith("file://"):
        return Path(url[len("file://"):])
    return None


def _wheel_metadata(wheel: Path) -> tuple[str, str, list[str], str | None]:
    """(name, version, Requires-Dist lines, Requires-Python) of a wheel."""
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist()
                 if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        if len(names) != 1:
            raise PackError(f"{wheel.name} is not a valid wheel (no single METADATA)")
        message = BytesParser().parsebytes(archive.read(names[0]))
    return (message["Name"], message["Version"], message.get_all("Requires-Dist") or [],
            message.get("Requires-Python"))


def _is_pure(wheel: Path) -> bool:
    _, _, _, tags = parse_wheel_filename(wheel.name)
    return all(tag.abi == "none" and tag.platform == "any" for tag in tags)


class _Walk:
    def __init__(self, target: TargetPython, dest: Path,
                 not_on_edge: Mapping[str, Mapping[str, str]], pip_args: Sequence[str],
                 progress: Progress) -> None:
        self.target = target
        self.dest = dest
        self.not_on_edge = {canonicalize_name(by) if by != "*" else by:
                            {canonicalize_name(k): v for k, v in names.items()}
                            for by, names in not_on_edge.items()}
        self.pip_args = list(pip_args)
        self.progress = progress
        self.found: dict[str, VendoredDist] = {}
        self.specs: dict[str, SpecifierSet] = {}
        self.extras: dict[str, set[str]] = {}
        self.chains: dict[str, tuple[str, ...]] = {}
        self.excluded: dict[str, str] = {}

    def want(self, req: Requirement, chain: tuple[str, ...]) -> bool:
        """Record a requirement; True when something new must be fetched or re-read."""
        name = canonicalize_name(req.name)
        requester = chain[-2] if len(chain) > 1 else ""
        reason = (self.not_on_edge.get(requester, {}).get(name)
                  or self.not_on_edge.get("*", {}).get(name))
        if reason:
            self.excluded[name] = f"{reason} (required by {' <- '.join(reversed(chain))})"
            return False
        self.chains.setdefault(name, chain)
        self.specs[name] = self.specs.get(name, SpecifierSet()) & req.specifier
        new_extras = set(req.extras) - self.extras.setdefault(name, set())
        self.extras[name] |= set(req.extras)
        if name in self.found:
            if not self.specs[name].contains(self.found[name].version, prereleases=True):
                raise PackError(
                    f"{name} {self.found[name].version} was chosen, but "
                    f"{' <- '.join(reversed(chain))} needs {name}{self.specs[name]}; "
                    "pin a version that satisfies both")
            return bool(new_extras)
        return True

    def requirements_of(self, name: str) -> list[Requirement]:
        dist = self.found[name]
        _, _, lines, _ = _wheel_metadata(dist.wheel)
        wanted = []
        for line in lines:
            try:
                req = Requirement(line)
            except InvalidRequirement as exc:
                raise PackError(f"{dist.wheel.name}: bad Requires-Dist {line!r}: {exc}") from exc
            if req.marker is not None and not any(
                    req.marker.evaluate(self.target.marker_environment(extra))
                    for extra in ["", *sorted(self.extras.get(name, ()))]):
                continue
            wanted.append(req)
        return wanted

    def add_wheel(self, wheel: Path) -> str:
        name, version, _, requires_python = _wheel_metadata(wheel)
        key = canonicalize_name(name)
        if not _is_pure(wheel):
            raise self.compiled(key, wheel.name)
        if requires_python and not SpecifierSet(requires_python).contains(
                f"{self.target.dotted}.0", prereleases=True):
            raise PackError(f"{name} {version} requires Python {requires_python}, not "
                            f"{self.target.dotted}")
        self.found[key] = VendoredDist(name=key, version=version, wheel=wheel,
                                       required_by=self.chains.get(key, ()))
        return key

    def compiled(self, name: str, detail: str) -> PackError:
        chain = " <- ".join(reversed(self.chains.get(name, (name,))))
        return PackError(
            f"{name} has no pure-Python wheel for Python {self.target.dotted} ({detail}); a "
            f"packaged edge must be pure Python, because a static unikernel interpreter cannot "
            f"load compiled modules. It is required by: {chain}. If the edge never imports "
            f"it, the plugin that brings it can declare it in ProviderSpec.not_on_edge")

    def fetch(self, names: list[str]) -> None:
        reqs = [f"{name}{self.specs[name]}" for name in names]
        self.progress(f"fetching {', '.join(reqs)}")
        try:
            _pip(["download", "--no-deps", "--quiet", "--dest", str(self.dest),
                  *_pure_args(self.target), *self.pip_args, *reqs], "pip download")
        except PackError as exc:
            for name, req in zip(names, reqs):  # which one has no pure wheel?
                try:
                    _pip(["download", "--no-deps", "--quiet", "--dest", str(self.dest),
                          *_pure_args(self.target), *self.pip_args, req], "pip download")
                except PackError as one:
                    raise self.compiled(name, one.message.splitlines()[0][:300]) from exc
            raise
        by_name: dict[str, list[tuple[Version, Path]]] = {}
        for wheel in self.dest.glob("*.whl"):
            try:
                name, version, _, _ = parse_wheel_filename(wheel.name)
            except ValueError:
                continue
            by_name.setdefault(canonicalize_name(name), []).append((version, wheel))
        for name in names:
            candidates = sorted((v, w) for v, w in by_name.get(name, [])
                                if self.specs[name].contains(v, prereleases=True))
            if not candidates:
                raise PackError(f"pip reported success but no wheel of {name} is in {self.dest}")
            self.add_wheel(candidates[-1][1])


def local_wheel(name: str, dest: Path, *, pip_args: Sequence[str] = (),
                progress: Progress = lambda _: None) -> Path | None:
    """Build a wheel of the installed distribution ``name`` from its local source folder.

    :param pip_args: index options for the build's own requirements (with
        ``--no-index``, the build backend must be in a ``--find-links`` folder).

    :returns: the wheel, or None when ``name`` was not installed from a local folder.
    :raises PackError: the build failed.
    """
    source = _local_source(name)
    if source is None:
        return None
    progress(f"building a wheel of {name} from {source}")
    before = set(dest.glob("*.whl"))
    _pip(["wheel", "--no-deps", "--quiet", "--wheel-dir", str(dest), *pip_args, str(source)],
         f"building {name} from {source}")
    made = [w for w in set(dest.glob("*.whl")) - before
            if canonicalize_name(parse_wheel_filename(w.name)[0]) == canonicalize_name(name)]
    if not made:  # the same wheel was already there: pick it by name
        made = [w for w in dest.glob("*.whl")
                if canonicalize_name(parse_wheel_filename(w.name)[0]) == canonicalize_name(name)]
    return max(made, key=lambda w: w.stat().st_mtime)


def resolve(roots: Iterable[str], target: TargetPython, *, dest: Path,
            not_on_edge: Mapping[str, Mapping[str, str]] | None = None,
            pip_args: Sequence[str] = (),
            progress: Progress = lambda _: None) -> Closure:
    """Find and download the pure-Python closure of ``roots`` for ``target``.

    :param roots: distribution names; installed ones from a local folder are
        built from it, others are fetched at their installed version (or the
        newest matching one when not installed).
    :param dest: the wheel folder (created); wheels already there are reused.
    :param not_on_edge: what to leave out: requiring distribution (``"*"`` for
        any) -> {name: reason}.
    :param pip_args: extra ``pip download`` options, e.g. ``["--no-index",
        "--find-links", "wheels/"]`` to build offline.
    :param progress: called with one line per step.
    :raises PackError: a dependency has no pure wheel, versions conflict, or pip failed.
    """
    dest.mkdir(parents=True, exist_ok=True)
    walk = _Walk(target, dest, not_on_edge or {}, pip_args, progress)
    pending: list[tuple[Requirement, tuple[str, ...]]] = []
    for root in roots:
        name = canonicalize_name(root)
        wheel = local_wheel(root, dest, pip_args=pip_args, progress=progress)
        if wheel is not None:
            walk.chains[name] = (name,)
            walk.specs[name] = SpecifierSet()
            walk.extras[name] = set()
            walk.add_wheel(wheel)
            pending.extend((req, (name,)) for req in walk.requirements_of(name))
            continue
        try:
            pin = f"{root}=={metadata.version(root)}"
        except metadata.PackageNotFoundError:
            pin = root
        pending.append((Requirement(pin), ()))
    while pending:
        fetch: list[str] = []
        reread: list[str] = []
        for req, chain in pending:
            name = canonicalize_name(req.name)
            if walk.want(req, (*chain, name)):
                (reread if name in walk.found else fetch).append(name)
        fetch = sorted(set(fetch))
        if fetch:
            walk.fetch(fetch)
        pending = [(req, walk.chains.get(name, (name,)))
                   for name in sorted(set(fetch) | set(reread))
                   for req in walk.requirements_of(name)]
    dists = tuple(sorted(walk.found.values(), key=lambda d: d.name))
    excluded = {name: why for name, why in walk.excluded.items() if name not in walk.found}
    return Closure(dists=dists, excluded=excluded, target=target)


def install(closure: Closure, tree: Path, *, progress: Progress = lambda _: None) -> None:
    """Unpack every wheel of ``closure`` into ``tree`` (the vendored site-packages).

    Nothing is compiled (no ``__pycache__``); scripts (``bin/``) are dropped,
    since a packaged edge runs ``python -m edgesync.edge``; and pip's
    ``direct_url.json`` (the temporary path each wheel was installed from) is
    removed, with its ``RECORD`` line, so the same closure gives the same tree.

    :raises PackError: ``tree`` exists and is not empty, or pip failed.
    """
    if tree.exists() and any(tree.iterdir()):
        raise PackError(f"{tree} is not empty; give a new folder")
    progress(f"installing {len(closure.dists)} distributions into {tree}")
    _pip(["install", "--no-deps", "--no-compile", "--no-index", "--quiet", "--target",
          str(tree), *_pure_args(closure.target),
          *[str(d.wheel) for d in closure.dists]], "pip install --target")
    for leftover in ("bin",):
        shutil.rmtree(tree / leftover, ignore_errors=True)
    for cache in list(tree.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)
    for info in tree.glob("*.dist-info"):
        (info / "direct_url.json").unlink(missing_ok=True)
        record = info / "RECORD"
        if record.is_file():
            lines = record.read_text("utf-8").splitlines(keepends=True)
            record.write_text("".join(line for line in lines
                                      if not line.startswith(f"{info.name}/direct_url.json,")),
                              "utf-8")
