"""``edgesync-pack``: package an edge to run somewhere else (a unikernel, a container).

Targets are plugins: each registers a :class:`~edgesync.types.PackTarget`
through the ``edgesync_pack_targets`` hook and becomes a subcommand,
``edgesync-pack NAME``. This package holds what every target shares:

- :func:`vendor_edge` -- the edge, one provider plugin and their pure-Python
  dependencies for the target's Python, unpacked into a folder and checked
  (:mod:`edgesync.pack.vendor`, :mod:`edgesync.pack.checks`);
- :mod:`edgesync.pack.instances` -- per-instance edge folders, tokens and the
  commands of an N-instance launcher;
- :mod:`edgesync.pack.cli` -- the ``edgesync-pack`` command and the options
  every target takes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import attrs

from edgesync.pack.checks import Probe, blocked_extensions, check_tree, probe
from edgesync.pack.vendor import (
    Closure,
    TargetPython,
    check_target_version,
    edge_roots,
    install,
    resolve,
)

__all__ = ["EDGE_MODULES", "VendoredEdge", "vendor_edge"]

#: The modules a packaged edge runs (``python -m edgesync.edge``) and probes with.
EDGE_MODULES = ("edgesync.edge.__main__", "edgesync.edge.server", "edgesync.edge.health")

#: Modules of a provider plugin that run on the host, never in the edge.
_HOST_ONLY = {"testing", "tests", "auth"}


@attrs.frozen(kw_only=True)
class VendoredEdge:
    """A vendored, checked edge tree.

    :ivar tree: the folder (what becomes site-packages).
    :ivar closure: the distributions in it, and those left out.
    :ivar sources: how many ``.py`` files were checked.
    :ivar probe: what importing the edge from the tree alone loaded.
    :ivar blocked: the extension modules that were unavailable during the probe.
    :ivar plugin: the provider plugin's entry-point name ("" for a built-in).
    """

    tree: Path
    closure: Closure
    sources: int
    probe: Probe
    blocked: tuple[str, ...]
    plugin: str


def _plugin_modules(tree: Path, package_names: Iterable[str]) -> list[str]:
    modules = []
    for package in package_names:
        for path in sorted((tree / package).rglob("*.py")):
            parts = list(path.relative_to(tree).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            if not _HOST_ONLY.intersection(parts) and "__main__" not in parts:
                modules.append(".".join(parts))
    return modules


def vendor_edge(provider: str, *, target: TargetPython, tree: Path, wheels: Path,
                builtin_modules: Iterable[str] | None = None, pip_args: Sequence[str] = (),
                alternative: str = "",
                progress: Callable[[str], None] = lambda _: None) -> VendoredEdge:
    """Vendor and check an edge that uploads through ``provider``.

    Steps: refuse an unsupported target version; resolve the pure-Python
    closure of ``edgesync`` and the provider's distribution for ``target``
    into ``wheels``; unpack it into ``tree``; check the tree
    (:func:`~edgesync.pack.checks.check_tree`); import the edge and the plugin
    from the tree alone with ``python -I -S``, with every extension module the
    target lacks blocked (:func:`~edgesync.pack.checks.probe`; only when the
    target version is the running one, since the probe runs this interpreter).

    :param builtin_modules: the target interpreter's compiled-in extension
        modules (None: no static-interpreter limit, as in a container).
    :param pip_args: extra ``pip download`` options (``--no-index``, ``--find-links DIR``).
    :param alternative: a sentence added when the version is refused.
    :raises PackError: any step failed; the message says which and why.
    :raises PluginError: no such provider is installed.
    """
    import sys

    from edgesync.plugins import PluginHost

    check_target_version(target, alternative=alternative)
    host = PluginHost().load()
    roots, not_on_edge = edge_roots(provider, host=host)
    closure = resolve(roots, target, dest=wheels, not_on_edge=not_on_edge,
                      pip_args=pip_args, progress=progress)
    install(closure, tree, progress=progress)
    progress("checking the tree")
    sources = check_tree(tree, version=target.version)
    plugin, packages = "", []
    if len(roots) > 1:  # a plugin's provider: probe the plugin's own package too
        plugin = host.provider_plugin(provider)
        packages = [host.manager.get_plugin(plugin).__name__.split(".")[0]]
    blocked = tuple(blocked_extensions(builtin_modules)) if builtin_modules is not None else ()
    if target.version != sys.version_info[:2]:
        progress(f"not probing: the target runs Python {target.dotted}, this is "
                 f"{sys.version_info[0]}.{sys.version_info[1]}")
        result = Probe(modules={}, returncode=-1, output="not run")
    else:
        progress("importing the edge from the tree alone (python -I -S)")
        result = probe(tree, imports=[*EDGE_MODULES, *_plugin_modules(tree, packages)],
                       blocked=blocked)
    return VendoredEdge(tree=tree, closure=closure, sources=sources, probe=result,
                        blocked=blocked, plugin=plugin)
