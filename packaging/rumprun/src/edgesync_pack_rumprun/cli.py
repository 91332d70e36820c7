"""``edgesync-pack rumprun``: the edge as a rumprun unikernel ISO, with a launcher for N.

The output folder gets:

- ``main.iso`` -- the vendored edge (the edge, the provider plugin and their
  pure-Python dependencies), a reproducible Rock Ridge image that rumprun
  mounts as ``/python/lib/python3.X/site-packages``;
- ``manifest.json`` -- every file's SHA-256, the distributions and versions,
  what was left out and why, and the checks that passed;
- ``launch.json`` and ``launch`` -- the launcher's settings and the launcher
  (``./launch create N``, ``list``, ``clean``).

The target's Python version comes from ``--python-iso`` (the stdlib image a
rumprun Python build made), else ``--python-version``, else this interpreter's.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
from pathlib import Path

import click

from edgesync.edge.setup import parse_option_items
from edgesync.errors import PackError
from edgesync.pack.checks import RUMPRUN_STATIC_MODULES
from edgesync.pack.cli import pip_args, progress, run_pack, vendor_options

__all__ = ["builtin_modules_from_setup", "pack_rumprun", "python_iso_facts"]

_ALTERNATIVE = "Or run the edge in a container instead: edgesync-pack docker."


def builtin_modules_from_setup(texts: list[str]) -> set[str]:
    """The modules a CPython ``Modules/Setup`` file compiles in statically.

    Lines before a ``*shared*`` or ``*disabled*`` marker (and after
    ``*static*``) name a module first: ``_json _json.c``.
    """
    modules: set[str] = set()
    for text in texts:
        static = True
        for raw in text.splitlines():
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if line in ("*shared*", "*disabled*"):
                static = False
            elif line == "*static*":
                static = True
            elif static and "=" not in line.split()[0]:
                name = line.split()[0]
                if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                    modules.add(name)
    return modules


def python_iso_facts(path: Path) -> tuple[str, set[str] | None]:
    """The Python version of a rumprun stdlib image, and its static modules if it says.

    The version comes from a ``config-3.X...`` folder or a ``_sysconfigdata``
    module; the modules from ``config-*/Setup`` and ``Setup.local``.

    :raises PackError: the image holds no recognisable CPython standard library.
    """
    from edgesync_pack_rumprun.iso import list_iso, read_member

    entries = list_iso(path)
    version = None
    setups = []
    for name in entries:
        top = name.split("/")[0]
        match = re.fullmatch(r"config-(\d+\.\d+)[^/]*", top)
        if match:
            version = version or match.group(1)
            if name.count("/") == 1 and name.rsplit("/", 1)[1] in ("Setup", "Setup.local"):
                setups.append(read_member(path, name).decode("utf-8", "replace"))
    if version is None:
        for name in entries:
            if re.fullmatch(r"_sysconfigdata[^/]*\.py", name):
                text = read_member(path, name).decode("utf-8", "replace")
                found = re.search(r"'VERSION': '(\d+\.\d+)'", text)
                if found:
                    version = found.group(1)
                    break
    if version is None:
        raise PackError(f"{path} does not look like a CPython standard library image (no "
                        "config-3.X folder or _sysconfigdata module); give the version "
                        "with --python-version")
    modules = builtin_modules_from_setup(setups) if setups else None
    return version, (modules or None)


def _sha256(path: Path) -> str:
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


@click.command("rumprun")
@vendor_options
@click.option("--python-version", metavar="X.Y",
              help="The rumprun Python's version (default: read from --python-iso, "
                   "else this interpreter's).")
@click.option("--python-iso", type=click.Path(dir_okay=False, exists=True),
              help="The rumprun Python's standard-library image; its version and static "
                   "modules are read from it, and the launcher mounts it.")
@click.option("--python-bin", default="python.bin", show_default=True, metavar="FILE",
              help="The baked rumprun Python unikernel the launcher boots (relative to "
                   "--out unless absolute).")
@click.option("--builtin-modules", metavar="LIST",
              help="Comma-separated extension modules compiled into the rumprun Python "
                   "(default: from --python-iso's Setup, else rumprun-packages' list).")
@click.option("--platform", type=click.Choice(["xen", "kvm", "qemu"]), default="kvm",
              show_default=True, help="What the launcher boots on (python.bin must be "
                                      "baked for it).")
@click.option("--memory", default=256, show_default=True, type=click.IntRange(64),
              help="Memory per instance, MB.")
@click.option("--bridge", metavar="NAME",
              help="Host bridge for the instances' network (required for xen; without "
                   "one, kvm/qemu forward each instance's port from the host).")
@click.option("-n", "--instances", default=1, show_default=True, type=click.IntRange(1),
              help="How many instances './launch create' starts when not told.")
@click.option("--base-port", default=8443, show_default=True, type=click.IntRange(1, 65535),
              help="Instance i listens on BASE_PORT + i - 1.")
@click.option("--plain-http", is_flag=True,
              help="Instances serve HTTP (only behind a TLS-terminating proxy).")
@click.option("--name", "names", multiple=True, metavar="HOST",
              help="A host name or address devices use (repeatable; put in each "
                   "instance's certificate).")
def pack_rumprun(provider: str, out: str, options: tuple[str, ...],
                 find_links: tuple[str, ...], offline: bool, python_version: str | None,
                 python_iso: str | None, python_bin: str, builtin_modules: str | None,
                 platform: str, memory: int, bridge: str | None, instances: int,
                 base_port: int, plain_http: bool, names: tuple[str, ...]) -> None:
    """Vendor the edge into a rumprun unikernel ISO, and write a launcher for N.

    Resolves the edge, the provider's plugin and their dependencies as
    pure-Python wheels for the target Python, refusing any compiled one;
    checks the tree (no extension modules, .pth files or symbolic links; every
    file parses for the target); imports the edge from the tree alone with
    the extension modules the static rumprun Python lacks blocked; writes
    main.iso reproducibly ($SOURCE_DATE_EPOCH sets its timestamps) with a
    manifest, and the launcher.

    \b
    Examples:
      edgesync-pack rumprun --provider dropbox --out build/rumprun \\
          --python-iso python.iso --python-bin python.bin --platform xen --bridge xenbr0 \\
          --option app_key=KEY --option token_file=/edge/dropbox-token.json
      build/rumprun/launch create 4 --dry-run
    """
    run_pack(lambda: _build(
        provider=provider, out=Path(out), options=parse_option_items(options),
        pip=pip_args(find_links, offline), python_version=python_version,
        python_iso=Path(python_iso) if python_iso else None, python_bin=python_bin,
        builtin_modules=builtin_modules, platform=platform, memory=memory, bridge=bridge,
        instances=instances, base_port=base_port, plain_http=plain_http, names=list(names)))


def _build(*, provider: str, out: Path, options: dict, pip: list[str],
           python_version: str | None, python_iso: Path | None, python_bin: str,
           builtin_modules: str | None, platform: str, memory: int, bridge: str | None,
           instances: int, base_port: int, plain_http: bool, names: list[str]) -> int:
    from edgesync.pack import vendor_edge
    from edgesync.pack.vendor import TargetPython, check_target_version
    from edgesync_pack_rumprun.iso import write_iso
    from edgesync_pack_rumprun.launcher import LaunchConfig

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise PackError(f"{out} exists and is not an empty folder; give a new --out")
    if platform == "xen" and not bridge:
        raise PackError("--platform xen needs --bridge (the Xen bridge the instances join)")
    static = None
    if python_iso is not None:
        iso_version, static = python_iso_facts(python_iso)
        if python_version and TargetPython.parse(python_version).dotted != iso_version:
            raise PackError(f"--python-version {python_version} disagrees with {python_iso}, "
                            f"which holds Python {iso_version}")
        python_version = iso_version
    target = TargetPython.parse(python_version or f"{sys.version_info[0]}."
                                f"{sys.version_info[1]}", sys_platform="netbsd")
    check_target_version(target, alternative=_ALTERNATIVE)
    modules = (set(filter(None, (m.strip() for m in builtin_modules.split(","))))
               if builtin_modules else static or set(RUMPRUN_STATIC_MODULES))
    if provider == "local":
        options = {"root": "/state/cloud", **options}
    out.mkdir(parents=True, exist_ok=True)
    progress(f"packaging an edge with provider {provider!r} for rumprun "
             f"(Python {target.dotted})")
    with tempfile.TemporaryDirectory(prefix="edgesync-pack-", dir=out) as tmp:
        edge = vendor_edge(provider, target=target, tree=Path(tmp) / "site-packages",
                           wheels=Path(tmp) / "wheels", builtin_modules=modules,
                           pip_args=pip, alternative=_ALTERNATIVE, progress=progress)
        epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0") or 0)
        progress("writing main.iso")
        write_iso(edge.tree, out / "main.iso", volume_id="EDGESYNC", epoch=epoch)
        files = {path.relative_to(edge.tree).as_posix(): _sha256(path)
                 for path in sorted(edge.tree.rglob("*")) if path.is_file()}
    manifest = {
        "format": 1,
        "target": "rumprun",
        "provider": provider,
        "plugin": edge.plugin,
        "python": target.dotted,
        "image": {"file": "main.iso", "sha256": _sha256(out / "main.iso"),
                  "mount": f"/python/lib/python{target.dotted}/site-packages"},
        **edge.closure.to_json(),
        "checks": {
            "python_sources_parsed": edge.sources,
            "builtin_modules": sorted(modules),
            "blocked_while_importing": list(edge.blocked),
            "extension_modules_used": edge.probe.extensions,
            "imported_from_tree_alone": edge.probe.returncode == 0,
        },
        "files": files,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n",
                                       "utf-8")
    config = LaunchConfig(
        platform=platform, python_version=target.dotted,
        python_bin=python_bin, python_iso=str(python_iso.resolve()) if python_iso
        else "python.iso", memory_mb=memory, bridge=bridge, base_port=base_port,
        provider=provider, provider_options=options, plain_http=plain_http, names=names,
        instances=instances)
    config.dump(out / "launch.json")
    from edgesync.pack.instances import write_launcher

    write_launcher(out, "edgesync_pack_rumprun.launcher",
                   what="Boot, list and stop this folder's rumprun edges.",
                   distribution="edgesync-pack-rumprun")
    size = (out / "main.iso").stat().st_size
    click.echo(f"Wrote {out / 'main.iso'} ({size / 1e6:.1f} MB, {len(files)} files, "
               f"{len(edge.closure.dists)} distributions, Python {target.dotted}), "
               f"{out / 'manifest.json'} and {out / 'launch'}.")
    click.echo(f"Next: put python.bin and python.iso for Python {target.dotted} beside it "
               f"(or pass --python-bin/--python-iso), then: {out / 'launch'} create "
               f"(starts {instances}; 'create N' for another number)")
    return 0
