"""What packaging costs: build time, image size, and the packaged edge's start and memory.

Builds the rumprun and docker targets for one provider with the real
``edgesync-pack``, then starts the same edge (a personal edge, plain HTTP on
loopback, the ``local`` provider) alternately two ways, each ``--repeats``
times, and reports medians side by side:

- **native**: ``python -m edgesync.edge`` from this virtual environment;
- **image**: ``main.iso`` extracted into the layout rumprun mounts, run with
  ``python -I -S -B`` and only the standard library beside it, with the
  extension modules rumprun's static Python lacks blocked (what the
  self-containment test runs; the closest this machine gets to a boot).

"Start" is the time from launching the process to the edge printing that it
serves; "idle RSS" is read from ``/proc`` one second later. The edge that is
started serves the ``local`` provider whichever plugin was packaged, so the
figures compare the two ways of running, not providers.

Usage::

    .venv/bin/python benchmarks/pack_bench.py [--provider onedrive] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edgesync.edge.setup import init_edge
from edgesync.pack.checks import RUMPRUN_STATIC_MODULES, blocked_extensions, probe_argv
from edgesync.testing.edge import read_serving

PACK = str(Path(sys.executable).with_name("edgesync-pack"))
VERSION = f"{sys.version_info[0]}.{sys.version_info[1]}"


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB (10^6 bytes), from /proc."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
    return kb * 1024 / 1e6


def timed_pack(target: str, provider: str, out: Path) -> float:
    """Run ``edgesync-pack TARGET`` once; return its wall time in seconds."""
    start = time.perf_counter()
    done = subprocess.run([PACK, target, "--provider", provider, "--out", str(out),
                           "--python-version", VERSION], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        sys.exit(f"pack_bench: edgesync-pack {target} failed:\n{done.stderr}")
    return time.perf_counter() - start


def start_and_measure(argv: list[str]) -> tuple[float, float]:
    """(seconds until the edge serves, idle RSS in MB one second later)."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={"PATH": os.environ["PATH"]})
    try:
        read_serving(process)
        ready = time.perf_counter() - start
        time.sleep(1.0)
        return ready, rss_mb(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def main() -> int:
    """Run the benchmark; print a Markdown table and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--provider", default="local",
                        help="the provider whose plugin is packaged (default: local)")
    parser.add_argument("--repeats", type=int, default=5, help="starts per way (default 5)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results",
                        help="where pack_bench.json goes (default: benchmarks/results/)")
    args = parser.parse_args()
    from edgesync_pack_rumprun.iso import extract_iso

    with tempfile.TemporaryDirectory(prefix="pack-bench-") as tmp:
        work = Path(tmp)
        seconds = {target: timed_pack(target, args.provider, work / target)
                   for target in ("rumprun", "docker")}
        iso = work / "rumprun" / "main.iso"
        manifest = json.loads((work / "rumprun" / "manifest.json").read_text())
        iso_mb = iso.stat().st_size / 1e6
        wheels_mb = sum(w.stat().st_size for w in (work / "docker" / "wheels").glob("*.whl")) / 1e6
        site = work / "unikernel" / "python" / "lib" / f"python{VERSION}" / "site-packages"
        site.parent.mkdir(parents=True)
        extract_iso(iso, site)
        edge = work / "edge"
        init_edge(edge, listen="127.0.0.1:0", plain_http=True, provider="local",
                  options={"root": str(work / "cloud")})
        ways = {
            "native": [sys.executable, "-m", "edgesync.edge", "--dir", str(edge),
                       "--state", str(work / "state-native")],
            "image": probe_argv(site, work / "report.json",
                                blocked=blocked_extensions(RUMPRUN_STATIC_MODULES),
                                run=["edgesync.edge", "--dir", str(edge),
                                     "--state", str(work / "state-image")]),
        }
        samples: dict[str, list[tuple[float, float]]] = {way: [] for way in ways}
        for _ in range(args.repeats):  # alternate, so drift hits both alike
            for way, argv in ways.items():
                samples[way].append(start_and_measure(argv))
    result = {
        "provider": args.provider,
        "python": platform.python_version(),
        "pack_seconds": {k: round(v, 2) for k, v in seconds.items()},
        "iso_mb": round(iso_mb, 2),
        "iso_files": len(manifest["files"]),
        "distributions": len(manifest["distributions"]),
        "wheelhouse_mb": round(wheels_mb, 2),
        "repeats": args.repeats,
    }
    for way, rows in samples.items():
        result[way] = {"start_s": round(statistics.median(r[0] for r in rows), 3),
                       "idle_rss_mb": round(statistics.median(r[1] for r in rows), 1)}
    ratio = result["image"]["idle_rss_mb"] / result["native"]["idle_rss_mb"]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "pack_bench.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"| provider {args.provider}, Python {result['python']}, "
          f"medians of {args.repeats} | native | image (ISO tree, -I -S) |")
    print("|---|---|---|")
    print(f"| time to serving (s) | {result['native']['start_s']} | "
          f"{result['image']['start_s']} |")
    print(f"| idle RSS (MB) | {result['native']['idle_rss_mb']} | "
          f"{result['image']['idle_rss_mb']} ({ratio:.2f}x) |")
    print(f"\nedgesync-pack rumprun {result['pack_seconds']['rumprun']} s "
          f"(main.iso {result['iso_mb']} MB, {result['iso_files']} files, "
          f"{result['distributions']} distributions); edgesync-pack docker "
          f"{result['pack_seconds']['docker']} s (wheels {result['wheelhouse_mb']} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
