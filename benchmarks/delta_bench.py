#!/usr/bin/env python3
"""Measure edgesync's delta against its peers on a corpus of edited documents.

For every pair ``CORPUS/<type>-<size>-<edit>/old.<ext>, new.<ext>`` (a corpus made by
``../shared/bench/make_corpus.py``) this measures, side by side in one run:

- edgesync: ``edgesync.delta.diff(old, new, path=name)``, its size, diff and patch
  time, the peak memory of diff, and whether ``patch(old, delta)`` is ``new`` byte
  for byte (or, when ``describe(delta).exact`` is false, the canonical rebuild it
  promised: result hash and member contents);
- gzip -9 of the new file, ``rdiff`` (delta, and signature + delta), ``xdelta3 -9 -S
  djw``, ``zstd -19 --long=27 --patch-from``;
- the paper's method (EdgeCourier 2017: diff-match-patch per changed member, zipped);
- unz+xdelta3 and unz+zstd: the same tools on the unzipped streams of
  ``edgesync.delta._container.explode(layout="inplace")`` (baseline.md's reference peer:
  every member inflated in place plus a recipe table), rebuilt by ``implode``;
- frame+xdelta3 and frame+zstd, for information only (not counted for the targets): the
  same tools on ``explode(layout="frame")``, a stream that borrows edgesync's own frame.

It writes ``delta_bench.md`` (tables, the acceptance targets with PASS/FAIL, medians),
``delta_bench.json`` (every measurement, machine and tool versions) and
``delta_bench.png`` (bytes per save by type and method) to ``--out``. Progress goes to
stderr, the targets summary to stdout. ``benchmarks/README.md`` explains every column.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _peers import (  # noqa: E402
    LABELS,
    METHODS,
    STREAM_METHODS,
    WORKER_METHODS,
    Job,
    Pair,
    measure_plain_tool,
    result,
    run_worker,
)
from _proc import find_tools, machine_info  # noqa: E402
from _report import (  # noqa: E402
    best_exact_peer,
    best_frame_peer,
    evaluate_targets,
    fmt_bytes,
    fmt_pct,
    frame_peer_summary,
    frame_summary_lines,
    medians_by_group,
    render_chart,
    render_markdown,
    summary_lines,
    wins,
)

REPO = Path(__file__).resolve().parent.parent
LARGE_FILE = 2_000_000  # files at least this big get 1 timing repeat by default, others 3

EPILOG = """\
examples:
  # the whole corpus (80 pairs: 6-12 minutes on 2 cores)
  .venv/bin/python benchmarks/delta_bench.py ~/corpus

  # medium office documents only, without the slow paper method, into /tmp/bench
  .venv/bin/python benchmarks/delta_bench.py ~/corpus --only '*-m-*' \\
      --skip-peers paper,rdiff --out /tmp/bench

  # one pair, timings as the median of 5 runs
  .venv/bin/python benchmarks/delta_bench.py ~/corpus --only docx-m-char --repeats 5

make a corpus first (see ../shared/bench/README.md):
  python ../shared/bench/make_corpus.py ~/corpus

methods (names for --skip-peers): {methods}
exit status: 0 when the run completed (whatever the targets say), 2 for bad arguments
or a bad CORPUS_DIR.
"""


class UsageError(Exception):
    """Bad arguments or corpus: printed without a traceback, exit status 2."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="delta_bench.py",
        description="Measure edgesync deltas against gzip, rdiff, xdelta3, zstd, the "
                    "EdgeCourier paper's method and unzip+delta peers on a corpus of "
                    "edited documents; check the acceptance targets.",
        epilog=EPILOG.format(methods=", ".join(METHODS)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("corpus", metavar="CORPUS_DIR", type=Path,
                        help="a corpus made by make_corpus.py (holds manifest.json)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results",
                        help="where to write delta_bench.{md,json,png} "
                             "(default: benchmarks/results/)")
    parser.add_argument("--only", metavar="PATTERN", action="append", default=[],
                        help="measure only pairs whose id matches this glob, e.g. 'docx-*' "
                             "or '*-l-*'; comma-separated or repeated")
    parser.add_argument("--skip-peers", metavar="METHODS", action="append", default=[],
                        help="methods not to run, e.g. 'paper,rdiff' (edgesync may be "
                             "named too); comma-separated or repeated")
    parser.add_argument("--jobs", type=int, default=1,
                        help="pairs measured in parallel (default 1; more makes timings "
                             "noisy)")
    parser.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS",
                        help="budget per method per pair, all repeats included; a method "
                             "over it is killed and recorded as a timeout (default 120)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timing repeats per method (median reported); default 3 "
                             f"below {LARGE_FILE / 1e6:g} MB, 1 above")
    parser.add_argument("--memory", choices=["both", "rss", "tracemalloc", "none"],
                        default="both",
                        help="edgesync diff peak memory: the RSS rise of its first run, "
                             "a tracemalloc run in a process of its own, both (default), "
                             "or none")
    parser.add_argument("--zstd-stream-cap", type=float, default=16.0, metavar="MIB",
                        help="skip unz+zstd and frame+zstd when the unzipped stream "
                             "exceeds this many MiB (default 16, as baseline.md)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="scratch directory for deltas and streams (default: the "
                             "system temp dir); emptied as the run goes")
    args = parser.parse_args(argv)
    args.only = [p.strip() for item in args.only for p in item.split(",") if p.strip()]
    args.skip = {p.strip() for item in args.skip_peers for p in item.split(",") if p.strip()}
    unknown = args.skip - set(METHODS)
    if unknown:
        parser.error(f"--skip-peers: unknown method(s) {', '.join(sorted(unknown))}; "
                     f"choose from {', '.join(METHODS)}")
    if args.jobs < 1 or (args.repeats is not None and args.repeats < 1) or args.timeout <= 0:
        parser.error("--jobs, --repeats and --timeout must be positive")
    return args


# --- the corpus -----------------------------------------------------------------------


def load_corpus(root: Path) -> tuple[dict[str, Any], list[Pair], list[str]]:
    """The manifest, the pairs found on disk, and warnings about the ones that are not."""
    hint = "make one with: python ../shared/bench/make_corpus.py ~/corpus"
    if not root.exists():
        raise UsageError(f"CORPUS_DIR {root} does not exist; {hint}")
    if not root.is_dir():
        raise UsageError(f"CORPUS_DIR {root} is not a directory; {hint}")
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise UsageError(f"{root} has no manifest.json, so it is not a corpus made by "
                         f"make_corpus.py (or it is still being written); {hint}")
    try:
        manifest = json.loads(manifest_path.read_text())
        entries = manifest["pairs"]
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{manifest_path} is not a make_corpus.py manifest ({exc})") from None
    pairs, warnings = [], []
    for entry in entries:
        pair_dir = root / entry["id"]
        olds, news = sorted(pair_dir.glob("old.*")), sorted(pair_dir.glob("new.*"))
        if len(olds) != 1 or len(news) != 1:
            warnings.append(f"{entry['id']}: expected one old.* and one new.* in {pair_dir}; "
                            "skipped")
            continue
        old, new = olds[0], news[0]
        is_zip = zipfile.is_zipfile(old) and zipfile.is_zipfile(new)
        unzipped = new.stat().st_size
        if is_zip:
            with zipfile.ZipFile(new) as zf:
                unzipped = sum(info.file_size for info in zf.infolist())
        pairs.append(Pair(
            id=entry["id"], type=entry.get("type", new.suffix.lstrip(".")),
            family=entry.get("family", "?"), size=entry.get("size", "?"),
            edit=entry.get("edit", "?"), old=str(old), new=str(new),
            old_bytes=old.stat().st_size, new_bytes=new.stat().st_size, is_zip=is_zip,
            unzipped_bytes=unzipped, payload=entry.get("payload") or {},
        ))
    if not pairs:
        raise UsageError(f"{root}: the manifest lists {len(entries)} pairs but none was found "
                         "on disk")
    return manifest, pairs, warnings


def select(pairs: list[Pair], patterns: list[str]) -> list[Pair]:
    if not patterns:
        return pairs
    chosen = [p for p in pairs if any(fnmatch.fnmatchcase(p.id, pat) for pat in patterns)]
    if not chosen:
        sample = ", ".join(p.id for p in pairs[:4])
        raise UsageError(f"--only {','.join(patterns)} matches no pair (ids look like "
                         f"{sample}, ...; use globs such as 'docx-*' or '*-m-char')")
    return chosen


# --- what is installed ----------------------------------------------------------------


def probe_edgesync() -> dict[str, Any]:
    """Whether the delta API and the container layer import, and which version."""
    info: dict[str, Any] = {"importable": False, "error": None, "version": None,
                            "container_importable": False, "container_error": None,
                            "git_commit": None}
    # A child process, so that a half-written module cannot break this one.
    code = (
        "import json\n"
        "out = {}\n"
        "try:\n"
        "    import edgesync, edgesync.delta as d\n"
        "    missing = [n for n in ('diff', 'patch', 'describe') if not hasattr(d, n)]\n"
        "    if missing: raise ImportError('edgesync.delta has no ' + ', '.join(missing))\n"
        "    out['version'] = getattr(edgesync, '__version__', None)\n"
        "    out['file'] = edgesync.__file__\n"
        "except Exception as e: out['error'] = f'{type(e).__name__}: {e}'\n"
        "try:\n"
        "    from edgesync.delta._container import explode, implode\n"
        "except Exception as e: out['container_error'] = f'{type(e).__name__}: {e}'\n"
        "print(json.dumps(out))\n"
    )
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60,
                              check=False)
        found = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        found = {"error": f"probe failed: {exc}", "container_error": "probe failed"}
    info.update(found)
    info["importable"] = not found.get("error")
    info["container_importable"] = not found.get("container_error")
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=10, check=False)
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
                               capture_output=True, text=True, timeout=10, check=False)
        if commit.returncode == 0:
            info["git_commit"] = commit.stdout.strip() + ("+dirty" if dirty.stdout else "")
    except (OSError, subprocess.TimeoutExpired):
        pass
    return info


def package_versions() -> dict[str, str | None]:
    out = {}
    for name in ("diff-match-patch", "matplotlib", "attrs", "edgesync"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


# --- measuring ------------------------------------------------------------------------


def measure_pair(pair: Pair, args: argparse.Namespace, tools: dict[str, str | None],
                 es_info: dict[str, Any], work_root: Path) -> dict[str, Any]:
    """Every method on one pair; returns the pair's record for the report."""
    repeats = args.repeats or (1 if max(pair.old_bytes, pair.new_bytes) >= LARGE_FILE else 3)
    cap = int(args.zstd_stream_cap * 2**20)
    results: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    for method in METHODS:
        work = work_root / pair.id / method
        work.mkdir(parents=True, exist_ok=True)
        job = Job(pair=pair, work=str(work), repeats=repeats, timeout=args.timeout,
                  tools=tools, memory=args.memory, zstd_stream_cap=cap)
        unz = method in STREAM_METHODS  # unz+ and frame+: a tool on an exploded stream
        plain = STREAM_METHODS[method][1] if unz else None
        if method in args.skip:
            res = result(method, "skipped", note="--skip-peers")
        elif unz and not pair.is_zip:
            res = dict(results[plain], method=method,
                       note=f"not a ZIP: the same as plain {plain}")
        elif unz and not es_info["container_importable"]:
            res = result(method, "skipped", note="edgesync.delta._container not importable "
                         f"yet ({es_info['container_error']})")
        elif unz and plain == "zstd" and pair.unzipped_bytes > cap:
            res = result(method, "skipped", stream_bytes=pair.unzipped_bytes,
                         note=f"unzipped {pair.unzipped_bytes / 1e6:.1f} MB > cap "
                              f"{args.zstd_stream_cap:g} MiB (zstd -19 is too slow there)")
        elif method == "edgesync" and not es_info["importable"]:
            res = result(method, "skipped", note=f"edgesync.delta not importable "
                                                 f"({es_info['error']})")
        elif method == "edgesync":
            res = run_worker(method, job)
            if res["status"] == "ok" and args.memory in ("both", "tracemalloc"):
                _add_tracemalloc(res, run_worker("edgesync_tracemalloc", job))
        elif method in WORKER_METHODS:
            res = run_worker(method, job)
        else:
            res = measure_plain_tool(method, job)
        results[method] = res
        shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(work_root / pair.id, ignore_errors=True)
    record = {**asdict(pair), "repeats": repeats, "results": results,
              "seconds": time.perf_counter() - started}
    best = best_exact_peer(record)
    frame = best_frame_peer(record)
    record["best_frame_peer"] = {"method": frame[0], "bytes": frame[1]} if frame else None
    record["best_exact_peer"] = {"method": best[0], "bytes": best[1]} if best else None
    es = results.get("edgesync") or {}
    record["edgesync_vs_best"] = (es["bytes"] / best[1]
                                  if best and es.get("status") == "ok" else None)
    record["edgesync_vs_best_frame"] = (es["bytes"] / frame[1]
                                        if frame and es.get("status") == "ok" else None)
    return record


def _add_tracemalloc(res: dict[str, Any], traced: dict[str, Any]) -> None:
    """Merge the tracemalloc run into edgesync's result; the peak is the larger figure."""
    if traced["status"] == "ok":
        res["peak_tracemalloc_bytes"] = traced["peak_tracemalloc_bytes"]
        res["traced_diff_s"] = traced["traced_diff_s"]
    else:
        res["note"] = (res["note"] + "; " if res["note"] else "") + \
            f"tracemalloc run: {traced['status']} {traced['note']}".strip()
    peaks = [p for p in (res.get("peak_rss_bytes"), res.get("peak_tracemalloc_bytes"))
             if p is not None]
    res["peak_bytes"] = max(peaks) if peaks else None


def progress_line(i: int, n: int, rec: dict[str, Any]) -> str:
    res = rec["results"]
    es = res.get("edgesync") or {}
    if es.get("status") == "ok":
        es_txt = (f"edgesync {fmt_bytes(es['bytes']):>6} "
                  f"({fmt_pct(100 * es['bytes'] / rec['new_bytes'])} %) {es.get('rebuild')}")
    else:
        es_txt = f"edgesync {es.get('status', '?')}"
    best = rec["best_exact_peer"]
    best_txt = f"best exact peer {LABELS[best['method']]} {fmt_bytes(best['bytes'])}" \
        if best else "no exact peer"
    trouble = [f"{LABELS[m]} {r['status']}" for m, r in res.items()
               if r["status"] in ("timeout", "error")
               or (r["status"] == "ok" and m in ("gzip9", "rdiff", "xdelta3", "zstd",
                                                 *STREAM_METHODS) and not r["exact"])]
    return (f"[{i:>3}/{n}] {rec['id']:<20} {fmt_bytes(rec['new_bytes']):>7}  {es_txt} | "
            f"{best_txt} | {rec['seconds']:.1f} s"
            + (f" | {', '.join(trouble)}" if trouble else ""))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        manifest, pairs, warnings = load_corpus(args.corpus.expanduser())
        pairs = select(pairs, args.only)
    except UsageError as exc:
        print(f"delta_bench.py: error: {exc}", file=sys.stderr)
        return 2
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)

    tool_info = find_tools()
    tools = {name: info["path"] for name, info in tool_info.items()}
    notes = [f"{name} not found on PATH: its methods are skipped (install with "
             "`make bench-deps`)." for name, path in tools.items() if not path]
    es_info = probe_edgesync()
    if not es_info["importable"] and "edgesync" not in args.skip:
        notes.append(f"edgesync.delta not importable ({es_info['error']}): edgesync is not "
                     "measured and every target is N/A.")
    if not es_info["container_importable"]:
        notes.append("edgesync.delta._container not importable "
                     f"({es_info['container_error']}): the unz+ and frame+ peers are skipped "
                     "on ZIP files.")
    for note in notes:  # the ones that say something is missing
        print(f"note: {note}", file=sys.stderr)
    notes.append(f"unz+zstd and frame+zstd are skipped when the unzipped stream exceeds "
                 f"{args.zstd_stream_cap:g} MiB (zstd -19 takes about 40 s on 32 MB).")
    notes.append("unz+xdelta3 and unz+zstd run on baseline.md's reference unzipped stream "
                 "(`explode(layout=\"inplace\")`: the archive as it is, every deflated member "
                 "inflated in place, after a table of deflate recipes and lengths); they are "
                 "the byte-exact peers of the targets. frame+xdelta3 and frame+zstd run the "
                 "same tools on `explode(layout=\"frame\")`, which borrows edgesync's own "
                 "compact frame; they are informational and not counted for the targets.")
    notes.append("Peak memory of edgesync diff: the rise of the worker's max RSS over its "
                 "first diff run (counts zlib's C buffers), and the peak of a tracemalloc run "
                 "in a process of its own (Python allocations only; not zlib's internal "
                 "buffers). The target uses the larger.")
    if args.skip:
        notes.append("Skipped on request: " + ", ".join(sorted(args.skip)) + ".")

    args.out.mkdir(parents=True, exist_ok=True)
    work_root = Path(tempfile.mkdtemp(prefix="delta_bench-", dir=args.workdir))
    started_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    t0 = time.perf_counter()
    print(f"measuring {len(pairs)} pairs from {args.corpus} with {args.jobs} job(s), "
          f"timeout {args.timeout:g} s per method", file=sys.stderr)
    records: list[dict[str, Any] | None] = [None] * len(pairs)
    done = 0
    try:
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = {pool.submit(measure_pair, pair, args, tools, es_info, work_root): i
                       for i, pair in enumerate(pairs)}
            for future in as_completed(futures):
                i = futures[future]
                records[i] = future.result()
                done += 1
                print(progress_line(done, len(pairs), records[i]), file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print("interrupted: writing the pairs measured so far", file=sys.stderr)
    finally:
        shutil.rmtree(work_root, ignore_errors=True)
    measured = [r for r in records if r is not None]
    if not measured:
        return 1

    why_absent = "" if es_info["importable"] else (es_info["error"] or "not importable")
    if "edgesync" in args.skip:
        why_absent = "skipped with --skip-peers"
    report: dict[str, Any] = {
        "run": {"started": started_at.isoformat(), "seconds": time.perf_counter() - t0,
                "command": [Path(sys.argv[0]).name, *(argv if argv is not None
                                                      else sys.argv[1:])],
                "options": {"only": args.only, "skip": sorted(args.skip), "jobs": args.jobs,
                            "timeout_s": args.timeout, "repeats": args.repeats,
                            "repeats_default": f"3 below {LARGE_FILE} B, else 1",
                            "memory": args.memory,
                            "zstd_stream_cap_bytes": int(args.zstd_stream_cap * 2**20)}},
        "machine": machine_info(),
        "tools": tool_info,
        "packages": package_versions(),
        "edgesync": es_info,
        "corpus": {"path": str(args.corpus), "generator": manifest.get("generator"),
                   "seed": manifest.get("seed"), "tools": manifest.get("tools"),
                   "pairs_in_manifest": len(manifest.get("pairs", [])),
                   "pairs_measured": len(measured)},
        "notes": notes,
        "pairs": measured,
    }
    report["targets"] = evaluate_targets(measured, why_absent)
    report["medians"] = medians_by_group(measured)
    report["wins"] = wins(measured)
    report["frame_peers"] = frame_peer_summary(measured)

    json_path, md_path, png_path = (args.out / f"delta_bench.{ext}"
                                    for ext in ("json", "md", "png"))
    json_path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    md_path.write_text(render_markdown(report))
    render_chart(report, png_path)

    for line in summary_lines(report):
        print(line)
    for line in frame_summary_lines(report):
        print(line)
    print(f"wrote {md_path}, {json_path.name}, {png_path.name} "
          f"({report['run']['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
