"""Run or import a packaged edge from its tree alone, and report what it loaded.

Executed as a script by :mod:`edgesync.pack.checks`, as
``python -I -S -B _probe.py --site TREE --report FILE [--block a,b] (--import m,n | --run MODULE ARGS...)``.
``-I -S`` leave only the standard library on ``sys.path``; the tree is added
as site-packages, the way rumprun mounts ``main.iso``. ``--block`` makes the
named extension modules unimportable, as on a static interpreter that was
built without them. At exit, every loaded module and where it came from is
written to the report (JSON). Standard library only: it runs beside the tree,
not from it.
"""

# Only modules the interpreter has already loaded at start-up are imported
# before the blocker is in place; everything else comes after, so that the
# probe's own imports cannot load a module the target lacks.
import os
import sys

# With -I -S, sys.path holds only the standard library (zip, folder, lib-dynload).
_STDLIB = [os.path.realpath(entry) for entry in sys.path if entry]
_SELF = os.path.realpath(__file__)


class _Blocked:
    """A meta-path finder that refuses the named modules."""

    def __init__(self, names):
        self.names = frozenset(names)

    def find_spec(self, name, path=None, target=None):
        if name in self.names:
            raise ModuleNotFoundError(
                f"No module named {name!r} (not built into the target interpreter)", name=name)


def _report(path, site):
    import importlib.machinery
    import json

    stdlib = _STDLIB
    site = os.path.realpath(site)
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    modules = {}
    for name, module in sorted(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file:
            where = "builtin"
        elif os.path.realpath(file) == _SELF:
            where = "probe"  # this script, run as __main__
        else:
            real = os.path.realpath(file)
            if real.startswith(site + os.sep):
                where = "tree"
            elif any(real == root or real.startswith(root + os.sep) for root in stdlib):
                where = "stdlib"
            else:
                where = "outside"
            if real.endswith(suffixes):
                where += "-extension"
        modules[name] = {"where": where, "file": file}
    with open(path, "w", encoding="utf-8") as out:
        json.dump({"modules": modules, "path": sys.path}, out, indent=1)


def main(argv):
    site = report = None
    block, imports, run = [], [], None
    args = list(argv)
    while args:
        flag = args.pop(0)
        if flag == "--site":
            site = args.pop(0)
        elif flag == "--report":
            report = args.pop(0)
        elif flag == "--block":
            block = [name for name in args.pop(0).split(",") if name]
        elif flag == "--import":
            imports = [name for name in args.pop(0).split(",") if name]
        elif flag == "--run":
            run = args.pop(0)
            break
        else:
            raise SystemExit(f"_probe: unknown option {flag}")
    if not site or not report:
        raise SystemExit("_probe: --site and --report are required")
    sys.meta_path.insert(0, _Blocked(block))
    preloaded = sorted(set(block) & set(sys.modules))
    if preloaded:
        raise SystemExit(f"_probe: {', '.join(preloaded)} were loaded before they could be blocked")
    import atexit
    import runpy

    sys.path.append(site)
    atexit.register(_report, report, site)
    for name in imports:
        __import__(name)
    if run:
        sys.argv = [run, *args]
        runpy.run_module(run, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
