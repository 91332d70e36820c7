"""The edge under load: idle memory, apply + store throughput, 200 users, saturation.

Run by hand (it takes about three minutes)::

    .venv/bin/python benchmarks/edge_bench.py            # the issue's settings
    .venv/bin/python benchmarks/edge_bench.py --quick    # a shorter smoke run

What it measures, each against a real ``edgesync serve`` process over HTTPS on
loopback (the load generator runs on the same machine and competes for its
cores; its CPU time is reported beside the edge's):

1. **idle memory**: resident set of a personal-mode edge after start-up and one
   health request (and, for information, after its first delta);
2. **apply + store**: one client saving one-character edits of a 500 KB docx
   back to back: latency of each save (patch, verify, fsync, upload to the
   ``local`` provider with fsync) and saves per second; also ``patch()`` alone,
   in this process;
3. **multi-user load** (open loop): ``--users`` users (200), each with its own
   500 KB docx, each saving a one-character edit every 10 s on average:
   Poisson arrivals at ``--rate`` (20) saves/s for ``--duration`` (60) s.
   Latency is measured at the client from the scheduled arrival, so a slow
   edge cannot hide queueing (no coordinated omission). A user's next save
   waits for its previous one, as an agent's would;
4. **saturation** (closed loop): ``--clients`` (20) threads, each a distinct
   user, saving back to back for ``--saturation-seconds`` (20) s.

Targets (issue 3): idle edge <= 30 MB resident; under the open-loop load
p95 <= 0.5 s with zero errors. Results go to ``benchmarks/results/edge_bench.json``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from edgesync import delta
from edgesync.edge import TokenStore
from edgesync.testing.documents import edit_docx, make_docx
from edgesync.testing.edge import read_serving
from edgesync.tls import pinned_session

RESULTS = Path(__file__).parent / "results"
DELTA_HEADERS = {"Content-Type": "application/vnd.edgesync.delta"}
IDLE_TARGET_MB = 30.0
P95_TARGET_S = 0.5


# --- helpers ------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summary(latencies: list[float]) -> dict[str, float]:
    return {"n": len(latencies), "median_s": statistics.median(latencies),
            "p95_s": percentile(latencies, 0.95), "p99_s": percentile(latencies, 0.99),
            "max_s": max(latencies)}


def cli(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "edgesync", *args], capture_output=True,
                            text=True, check=True)
    return result.stdout


class Edge:
    """An ``edgesync serve`` process with its folder."""

    def __init__(self, folder: Path, mode: str, threads: int) -> None:
        cli("edge", "init", str(folder), "--mode", mode, "--listen", "127.0.0.1:0")
        config = folder / "edge.toml"
        config.write_text(config.read_text().replace("threads = 16", f"threads = {threads}"))
        self.folder = folder
        self.tokens = TokenStore(folder / "tokens.json")
        self.process: subprocess.Popen | None = None

    def start(self, entry: tuple[str, ...] = ("edgesync", "serve")) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", *entry, "--dir", str(self.folder),
             "--access-log", str(self.folder / "access.log")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.url, self.fingerprint = read_serving(self.process)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def session(self, token: str):
        session = pinned_session(self.fingerprint)
        session.headers["Authorization"] = f"Bearer {token}"
        return session

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.communicate(timeout=30)


def document_chain(length: int) -> tuple[bytes, list[bytes]]:
    """A ~500 KB docx (text and pictures) and ``length`` deltas of one-character edits."""
    base = make_docx(paragraphs=400, images=45, seed=7)
    versions = [base]
    for i in range(length):
        versions.append(edit_docx(versions[-1], "type", seed=i + 1))
    deltas = [delta.diff(old, new) for old, new in zip(versions, versions[1:])]
    return base, deltas


# --- 1. idle memory -------------------------------------------------------------------------


def idle_memory(work: Path, base: bytes, first_delta: bytes) -> dict:
    edge = Edge(work / "personal", "personal", 16)
    token, _ = edge.tokens.add("me")
    edge.start()
    try:
        session = edge.session(token)
        session.get(f"{edge.url}/v1/health").raise_for_status()
        time.sleep(3)
        idle = rss_mb(edge.pid)
        session.put(f"{edge.url}/v1/files/a.docx", data=base).raise_for_status()
        session.patch(f"{edge.url}/v1/files/a.docx", data=first_delta,
                      headers=DELTA_HEADERS).raise_for_status()
        time.sleep(1)
        after = rss_mb(edge.pid)
    finally:
        edge.stop()
    # The same edge as images start it: python -m edgesync.edge (no click).
    edge.start(entry=("edgesync.edge",))
    try:
        edge.session(token).get(f"{edge.url}/v1/health").raise_for_status()
        time.sleep(3)
        image_idle = rss_mb(edge.pid)
    finally:
        edge.stop()
    return {"idle_rss_mb": round(idle, 1), "after_first_delta_rss_mb": round(after, 1),
            "image_entry_idle_rss_mb": round(image_idle, 1),
            "target_mb": IDLE_TARGET_MB, "pass": idle <= IDLE_TARGET_MB}


# --- 2. apply + store ------------------------------------------------------------------------


def apply_and_store(work: Path, base: bytes, deltas: list[bytes], count: int) -> dict:
    edge = Edge(work / "single", "personal", 16)
    token, _ = edge.tokens.add("me")
    edge.start()
    try:
        session = edge.session(token)
        session.put(f"{edge.url}/v1/files/a.docx", data=base).raise_for_status()
        latencies = []
        cpu0, wall0 = cpu_seconds(edge.pid), time.perf_counter()
        for item in deltas[:count]:
            started = time.perf_counter()
            response = session.patch(f"{edge.url}/v1/files/a.docx", data=item,
                                     headers=DELTA_HEADERS)
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)
        wall = time.perf_counter() - wall0
        cpu = cpu_seconds(edge.pid) - cpu0
    finally:
        edge.stop()
    # patch() alone, in this process, for the share of the engine in a save
    versions = [base]
    patch_times = []
    for item in deltas[:count]:
        started = time.perf_counter()
        versions.append(delta.patch(versions[-1], item))
        patch_times.append(time.perf_counter() - started)
    return {"saves": len(latencies), "file_bytes": len(base),
            "median_delta_bytes": int(statistics.median(len(d) for d in deltas[:count])),
            "save_latency": summary(latencies),
            "saves_per_s": round(len(latencies) / wall, 1),
            "edge_cpu_per_save_ms": round(cpu / len(latencies) * 1000, 1),
            "patch_only_median_ms": round(statistics.median(patch_times) * 1000, 1)}


# --- 3 and 4. many users -----------------------------------------------------------------------


class Users:
    """Per user: a token, where it stands in the chain, and a lock (one save at a time)."""

    def __init__(self, edge: Edge, count: int) -> None:
        self.tokens = [edge.tokens.add(f"u{i:03d}")[0] for i in range(count)]
        self.position = [0] * count
        self.locks = [threading.Lock() for _ in range(count)]
        self.local = threading.local()
        self.edge = edge

    def session(self):
        # One keep-alive connection pool per client thread; tokens go per request.
        if not hasattr(self.local, "session"):
            self.local.session = self.edge.session("unused")
        return self.local.session

    def upload_base(self, user: int, base: bytes) -> None:
        response = self.session().put(f"{self.edge.url}/v1/files/report.docx", data=base,
                                      headers={"Authorization": f"Bearer {self.tokens[user]}"})
        response.raise_for_status()

    def save(self, user: int, deltas: list[bytes]) -> tuple[bool, str]:
        """The user's next one-character edit; returns (ok, detail)."""
        with self.locks[user]:
            index = self.position[user]
            if index >= len(deltas):
                return False, "chain exhausted (raise --chain)"
            try:
                response = self.session().patch(
                    f"{self.edge.url}/v1/files/report.docx", data=deltas[index],
                    headers={**DELTA_HEADERS, "Authorization": f"Bearer {self.tokens[user]}"},
                    timeout=60)
            except Exception as exc:  # a benchmark counts every failure, whatever it is
                return False, f"{type(exc).__name__}: {exc}"
            if response.status_code != 200:
                return False, f"{response.status_code} {response.text[:200]}"
            self.position[user] = index + 1
            return True, ""


def open_loop(users: Users, deltas: list[bytes], count: int, rate: float, duration: float,
              seed: int = 1) -> dict:
    rng = random.Random(seed)
    schedule, t = [], 0.0
    while True:
        t += rng.expovariate(rate)
        if t >= duration:
            break
        schedule.append((t, rng.randrange(count)))
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = time.monotonic() + 1.0

    def one(at: float, user: int) -> None:
        due = start + at
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        ok, detail = users.save(user, deltas)
        elapsed = time.monotonic() - due
        with lock:
            latencies.append(elapsed)
            if not ok:
                errors.append(detail)

    cpu0 = cpu_seconds(users.edge.pid)
    client0 = time.process_time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=96) as pool:
        futures = [pool.submit(one, at, user) for at, user in schedule]
        for future in futures:
            future.result()
    wall = time.monotonic() - start
    return {"offered_saves": len(schedule), "offered_rate": rate, "duration_s": duration,
            "latency": summary(latencies), "errors": len(errors), "error_samples": errors[:5],
            "edge_cpu_cores": round((cpu_seconds(users.edge.pid) - cpu0) / wall, 2),
            "client_cpu_cores": round((time.process_time() - client0) / wall, 2),
            "p95_target_s": P95_TARGET_S,
            "pass": not errors and percentile(latencies, 0.95) <= P95_TARGET_S}


def saturation(users: Users, deltas: list[bytes], clients: int, seconds: float) -> dict:
    stop_at = time.monotonic() + seconds
    done: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def loop(user: int) -> None:
        while time.monotonic() < stop_at:
            started = time.monotonic()
            ok, detail = users.save(user, deltas)
            with lock:
                (done.append(time.monotonic() - started) if ok else errors.append(detail))
            if not ok and "exhausted" in detail:
                return

    cpu0, wall0 = cpu_seconds(users.edge.pid), time.monotonic()
    client0 = time.process_time()
    threads = [threading.Thread(target=loop, args=(user,)) for user in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - wall0
    return {"clients": clients, "seconds": round(wall, 1), "saves": len(done),
            "saves_per_s": round(len(done) / wall, 1), "latency": summary(done) if done else {},
            "errors": len(errors), "error_samples": errors[:5],
            "edge_cpu_cores": round((cpu_seconds(users.edge.pid) - cpu0) / wall, 2),
            "client_cpu_cores": round((time.process_time() - client0) / wall, 2)}


# --- main ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="saves per second, in all")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--saturation-seconds", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=32, help="the edge's worker threads")
    parser.add_argument("--chain", type=int, default=400, help="edits prepared per document")
    parser.add_argument("--quick", action="store_true", help="20 users, 10 s, 5 s saturation")
    parser.add_argument("--out", type=Path, default=RESULTS / "edge_bench.json")
    args = parser.parse_args()
    if args.quick:
        args.users, args.duration, args.saturation_seconds, args.rate = 20, 10.0, 5.0, 4.0
    print(f"preparing a 500 KB docx and {args.chain} one-character edits ...", flush=True)
    base, deltas = document_chain(args.chain)
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
                     "document_bytes": len(base)}
    with tempfile.TemporaryDirectory(prefix="edge-bench-") as tmp:
        work = Path(tmp)
        results["idle"] = idle_memory(work, base, deltas[0])
        print("idle:", json.dumps(results["idle"]), flush=True)
        results["apply_store"] = apply_and_store(work, base, deltas, min(40, args.chain))
        print("apply+store:", json.dumps(results["apply_store"]), flush=True)
        edge = Edge(work / "multi", "multi-user", args.threads)
        users = Users(edge, args.users)
        edge.start()
        try:
            with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(lambda user: users.upload_base(user, base), range(args.users)))
            results["idle_multi_user_rss_mb"] = round(rss_mb(edge.pid), 1)
            results["load"] = open_loop(users, deltas, args.users, args.rate, args.duration)
            print("load:", json.dumps(results["load"]), flush=True)
            results["saturation"] = saturation(users, deltas, min(args.clients, args.users),
                                               args.saturation_seconds)
            print("saturation:", json.dumps(results["saturation"]), flush=True)
            results["multi_user_rss_mb_after"] = round(rss_mb(edge.pid), 1)
        finally:
            edge.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    load, idle = results["load"], results["idle"]
    print()
    print(f"{'PASS' if idle['pass'] else 'FAIL'}  idle personal edge: {idle['idle_rss_mb']} MB "
          f"resident (target <= {IDLE_TARGET_MB:.0f}); after its first delta "
          f"{idle['after_first_delta_rss_mb']} MB; as images start it (python -m "
          f"edgesync.edge): {idle['image_entry_idle_rss_mb']} MB")
    print(f"{'PASS' if load['pass'] else 'FAIL'}  {args.users} users, {load['offered_saves']} "
          f"saves at {args.rate}/s: p95 {load['latency']['p95_s']:.3f} s, median "
          f"{load['latency']['median_s']:.3f} s, max {load['latency']['max_s']:.3f} s, "
          f"{load['errors']} errors (target p95 <= {P95_TARGET_S} s, 0 errors)")
    sat = results["saturation"]
    print(f"info  saturation: {sat['saves_per_s']} saves/s with {sat['clients']} closed-loop "
          f"clients; edge CPU {sat['edge_cpu_cores']} cores, client CPU "
          f"{sat['client_cpu_cores']} cores")
    print(f"wrote {args.out}")
    return 0 if idle["pass"] and load["pass"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
