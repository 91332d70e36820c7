"""Save to "in the cloud" over a slow uplink: edgesync against uploading the whole file.

Run by hand (the default run takes about 5-6 minutes, most of it the whole
10 MB file going up three times at 1 Mbit/s)::

    .venv/bin/python benchmarks/sync_bench.py             # 100 KB, 1 MB, 10 MB; 3 runs each
    .venv/bin/python benchmarks/sync_bench.py --quick     # 100 KB and 1 MB, 1 run (~30 s)
    .venv/bin/python benchmarks/sync_bench.py --selftest  # only measure the shaped link

**The set-up**, all in this process, on loopback: an :class:`EdgeServer`
(HTTPS with its own certificate, the ``local`` provider playing the cloud in
a temporary folder, ``fsync`` on at the edge and in the provider, as
deployed), and in front of it :class:`~_shaper.Shaper`, a TCP proxy that makes
the issue's link: 1 Mbit/s up, 10 Mbit/s down, 40 ms round trip. The device's
:class:`EdgeClient` talks to the proxy's port; TLS runs end to end through it,
so the pinned fingerprint is the edge's own. ``_shaper.py`` explains the model
(a serialising link plus a fixed delay, per direction, with the TCP
handshake's round trip added); ``--selftest`` measures the link it makes, and
every run checks it briefly first and prints what it measured. Edge, proxy
and agent share one interpreter; the proxy's threads only sleep and copy, and
the whole-file uploads, paced by them while the edge works, reach 0.98-1.0
Mbit/s of file content at 1 Mbit/s (printed per run), so the lock they share
does not slow the link.

**The documents.** For each size (100 KB, 1 MB, 10 MB; K = 1,000) a docx made
by python-docx with :func:`make_docx`: prose and 64x48 noise pictures
(about 9 KB each, incompressible, as photos are), as many as make the size.
Then a chain of one-character edits, each :func:`edit_docx` (``"type"``) of the
one before, saved again whole by python-docx as Word would.

**What is timed**, for each size, ``--repeat`` times (the median is reported):

- *edgesync*: the edge and the agent's shadow hold version k (seeded by a
  full push over a direct, unshaped connection). Version k+1 is written to
  the device's folder; the clock starts when the write returns (the save)
  and stops when :meth:`Agent.push` returns. The push diffs on the device,
  sends the delta, and the edge rebuilds the file, stores it and uploads it
  to the provider *before it answers*, so the answer means "in the cloud";
  the run checks that the state is ``uploaded`` and, at the end, that the
  cloud holds the last version byte for byte. The push also records the new
  shadow after the answer; that is counted too.
- *whole file*: the same new versions, written the same way, read and sent
  whole with ``EdgeClient.put(..., gzip_level=None)`` over the same shaped link
  to the same edge, at another path; the clock stops at the edge's answer
  (again "in the cloud"). Not gzipped, as cloud apps upload office files as
  they are; a docx is deflated already, and the gzip size is printed to show
  how little it would save.

Both start on a *new* connection (TCP and TLS handshakes included, 2 of the
3 round trips of an edgesync save): a save comes minutes after the last
one, and the edge closes idle connections after 60 s. edgesync on a kept-alive
connection is measured too, for information.

**Where edgesync's time goes** is printed per size: the diff (timed on its
own, on the same pairs), the rest of the device's work, the edge's apply,
upload and other work (from its access log) and the network (the request's
time at the client minus the edge's time). The bytes the proxy carried show
what a save costs on the wire: TLS handshake, HTTP headers and the delta.

**Targets** (the issue): one-character edit of a 1 MB document at least 20x
faster to the cloud than the whole-file upload over the same link, and of a
10 MB document at least 50x. 100 KB is information only. Results go to
``benchmarks/results/sync_bench.json``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import itertools
import json
import os
import re
import socket
import statistics
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from edgesync import delta
from edgesync.agent.client import EdgeClient
from edgesync.agent.core import Agent
from edgesync.edge.config import EdgeConfig
from edgesync.edge.server import EdgeServer
from edgesync.edge.tokens import TokenStore
from edgesync.testing.documents import edit_docx, make_docx
from edgesync.tls import create_certificate

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _shaper import Shaper

RESULTS = Path(__file__).parent / "results"
#: Speed-up targets of the issue, by nominal document size.
TARGETS = {1_000_000: 20.0, 10_000_000: 50.0}
DEFAULT_SIZES = "100K,1M,10M"
_UNITS = {"": 1, "K": 1000, "M": 1000**2, "G": 1000**3}


def log(message: str) -> None:
    """Progress, on standard error (the results go to standard output)."""
    print(message, file=sys.stderr, flush=True)


def parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]?)B?\s*", text, re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size; write e.g. 100K, 1M, 10M")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def show_size(size: float) -> str:
    for unit, scale in (("MB", 1e6), ("KB", 1e3)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size:.0f} B"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --- the link check --------------------------------------------------------------------------


class _LinkProbe:
    """A local server to put behind the shaper: a sink, a source and an echo.

    The first byte of a connection says which: ``U`` (read to the end, note
    when the first and last bytes came), ``D`` + 8-byte length (send that
    many bytes) or ``E`` (echo everything).
    """

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.uploads: list[tuple[int, int, float, float]] = []
        self.done = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            first = conn.recv(65536)
            kind, rest = first[:1], first[1:]
            if kind == b"U":
                first_at, first_len, total, last_at = time.monotonic(), len(rest), len(rest), 0.0
                while data := conn.recv(65536):
                    total, last_at = total + len(data), time.monotonic()
                self.uploads.append((total, first_len, first_at, last_at))
                conn.sendall(b"ok")
                self.done.set()
            elif kind == b"D":
                while len(rest) < 8:
                    rest += conn.recv(8 - len(rest))
                (size,) = struct.unpack(">Q", rest[:8])
                conn.sendall(os.urandom(size))
                conn.shutdown(socket.SHUT_WR)
                conn.recv(1)  # the client's close
            elif kind == b"E":
                conn.sendall(first)
                while data := conn.recv(65536):
                    conn.sendall(data)

    def close(self) -> None:
        self.listener.close()


def check_link(up_bps: float, down_bps: float | None, rtt: float, payload: int) -> dict:
    """Measure the link the shaper makes: uplink and downlink rate, round trip.

    The rates are measured where the bytes arrive, from the first byte to the
    last (so the delay drops out), over ``payload`` bytes of noise; the round
    trip is the median of 10 one-byte echoes on an open connection. The
    first exchange on a new connection also pays the modelled TCP handshake,
    so it should take about two round trips.
    """
    probe = _LinkProbe()
    shaper = Shaper(("127.0.0.1", probe.port), up_bps=up_bps, down_bps=down_bps,
                    rtt=rtt).start()
    try:
        with socket.create_connection(("127.0.0.1", shaper.port)) as sock:
            sock.sendall(b"U" + os.urandom(payload))
            sock.shutdown(socket.SHUT_WR)
            sock.recv(2)
        total, first_len, first_at, last_at = probe.uploads[-1]
        up = 8 * (total - first_len) / (last_at - first_at)

        down_payload = min(payload, 1_000_000) if down_bps else payload
        with socket.create_connection(("127.0.0.1", shaper.port)) as sock:
            sock.sendall(b"D" + struct.pack(">Q", down_payload))
            sock.recv(65536)  # the clock starts at the first bytes, which do not count
            first_at, got, last_at = time.monotonic(), 0, 0.0
            while data := sock.recv(65536):
                got, last_at = got + len(data), time.monotonic()
        down = 8 * got / (last_at - first_at)

        with socket.create_connection(("127.0.0.1", shaper.port)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            started = time.monotonic()
            sock.sendall(b"E")
            sock.recv(1)
            first_exchange = time.monotonic() - started
            rtts = []
            for _ in range(10):
                started = time.monotonic()
                sock.sendall(b"x")
                sock.recv(1)
                rtts.append(time.monotonic() - started)
    finally:
        shaper.stop()
        probe.close()
    return {"payload_bytes": payload,
            "up_mbit_asked": up_bps / 1e6, "up_mbit_measured": round(up / 1e6, 3),
            "down_mbit_asked": down_bps / 1e6 if down_bps else None,
            "down_mbit_measured": round(down / 1e6, 2),
            "rtt_ms_asked": rtt * 1000, "rtt_ms_measured": round(median(rtts) * 1000, 1),
            "first_exchange_ms": round(first_exchange * 1000, 1),
            "first_exchange_ms_expected": round(2 * rtt * 1000, 1)}


def show_link(link: dict) -> str:
    down = (f"{link['down_mbit_measured']} Mbit/s (asked {link['down_mbit_asked']:g})"
            if link["down_mbit_asked"] else f"{link['down_mbit_measured']} Mbit/s (unlimited)")
    return (f"link measured over {show_size(link['payload_bytes'])}: up "
            f"{link['up_mbit_measured']} Mbit/s (asked {link['up_mbit_asked']:g}), down {down}, "
            f"RTT {link['rtt_ms_measured']} ms (asked {link['rtt_ms_asked']:g}); first exchange "
            f"on a new connection {link['first_exchange_ms']} ms (TCP handshake + 1 RTT: "
            f"{link['first_exchange_ms_expected']:g} ms)")


# --- documents -------------------------------------------------------------------------------


def document(size: int, seed: int = 7) -> bytes:
    """A docx of about ``size`` bytes: prose and 64x48 noise pictures.

    A make_docx file is about 30 KB of package and styles, 0.22 KB per
    paragraph and 9.2 KB per picture (measured); one paragraph per 5 KB keeps
    the text share of a real report.
    """
    paragraphs = max(30, round(size / 5000))
    images = max(1, round((size - 30_000 - 220 * paragraphs) / 9_210))
    return make_docx(paragraphs=paragraphs, images=images, seed=seed)


def edit_chain(base: bytes, length: int) -> list[bytes]:
    """``base`` and ``length`` versions after it, each one character typed into the last."""
    versions = [base]
    for i in range(length):
        versions.append(edit_docx(versions[-1], "type", seed=i + 1))
    return versions


# --- the edge and the link -------------------------------------------------------------------


class TimedClient(EdgeClient):
    """An :class:`EdgeClient` that notes how long its last request took (network + edge)."""

    last_request_s = 0.0

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return super().request(method, url, **kwargs)
        finally:
            self.last_request_s = time.perf_counter() - started

    def new_connection(self) -> None:
        """Drop the kept-alive connections, so the next request opens one (TCP + TLS)."""
        self.session.close()  # requests makes new pools on the next request


class Bench:
    """The edge, the shaper in front of it, a direct and a shaped client, and one agent."""

    def __init__(self, work: Path, *, up_bps: float, down_bps: float | None,
                 rtt: float) -> None:
        edge_dir, self.cloud, self.device = work / "edge", work / "cloud", work / "device"
        self.device.mkdir()
        create_certificate(edge_dir / "tls" / "cert.pem", edge_dir / "tls" / "key.pem")
        config = EdgeConfig.from_mapping(
            {"mode": "personal", "user": "me",
             "server": {"listen": "127.0.0.1:0", "tls": True, "threads": 8,
                        "access_log": "-"},
             "provider": {"name": "local", "options": {"root": str(self.cloud)}}},
            edge_dir)
        assert config.fsync, "the edge fsyncs by default, as deployed"
        token, _ = TokenStore(config.tokens_path).add("me", label="sync_bench")
        self.access = io.StringIO()  # one JSON line per request: apply_ms, upload_ms, ms
        self.edge = EdgeServer(config, log_stream=self.access).start()
        try:
            self.shaper = Shaper(self.edge.address, up_bps=up_bps, down_bps=down_bps,
                                 rtt=rtt).start()
        except BaseException:
            self.edge.stop()
            raise
        # No retries: a retried request would hide a failure inside a slow time.
        self.direct = TimedClient(self.edge.url, token, fingerprint=self.edge.fingerprint,
                                  timeout=120, retries=0)
        self.shaped = TimedClient(f"https://127.0.0.1:{self.shaper.port}", token,
                                  fingerprint=self.edge.fingerprint, timeout=300, retries=0)
        self.agent = Agent(self.device, work / "agent-state", self.direct)

    def edge_line(self, method: str, path: str) -> dict:
        """The edge's access-log line of its last ``method`` on ``path``."""
        for line in reversed(self.access.getvalue().splitlines()):
            entry = json.loads(line)
            if entry.get("method") == method and entry.get("path") == path:
                return entry
        raise LookupError(f"no {method} {path} in the edge's access log")

    def close(self) -> None:
        self.shaper.stop()
        self.edge.stop()


# --- one size --------------------------------------------------------------------------------


def measure(bench: Bench, nominal: int, repeat: int, whole_repeat: int) -> dict:
    """Everything for one document size (see the module docstring)."""
    name = f"doc-{show_size(nominal).replace(' ', '')}.docx"
    whole_name = f"whole/{name}"
    started = time.perf_counter()
    base = document(nominal)
    # Versions 1..repeat: timed on new connections (edgesync and whole file);
    # repeat+1..2*repeat: edgesync on a kept-alive connection.
    versions = edit_chain(base, 2 * repeat)
    log(f"{name}: {len(base):,} bytes, {len(versions) - 1} edits made in "
        f"{time.perf_counter() - started:.1f} s")
    path = bench.device / name

    # The diff alone, on the same pairs, for the breakdown (the push does it too).
    diff_s, delta_sizes = [], []
    for old, new in itertools.pairwise(versions):
        t0 = time.perf_counter()
        delta_sizes.append(len(delta.diff(old, new, path=name)))
        diff_s.append(time.perf_counter() - t0)

    # Seed: edge and shadow hold the base, over the direct link.
    path.write_bytes(base)
    bench.agent.client = bench.direct
    seeded = bench.agent.push(path)
    if seeded.state != "uploaded":
        raise RuntimeError(f"seeding {name} ended {seeded.state}: {seeded.error}")
    bench.agent.client = bench.shaped

    def push(version: bytes, *, cold: bool) -> dict:
        if cold:
            bench.shaped.new_connection()
        accepted, carried = bench.shaper.accepted, dict(bench.shaper.carried)
        path.write_bytes(version)
        t0 = time.perf_counter()
        result = bench.agent.push(path)
        seconds = time.perf_counter() - t0
        if result.mode != "delta" or result.state != "uploaded":
            raise RuntimeError(f"{name}: push was {result.mode}/{result.state}: {result.error}")
        edge = bench.edge_line("PATCH", name)
        return {"seconds": seconds, "sent": result.sent,
                "request_s": bench.shaped.last_request_s,
                "edge_ms": edge["ms"], "apply_ms": edge["apply_ms"],
                "upload_ms": edge["upload_ms"],
                "wire_up": bench.shaper.carried["up"] - carried["up"],
                "wire_down": bench.shaper.carried["down"] - carried["down"],
                "new_connections": bench.shaper.accepted - accepted}

    cold = [push(v, cold=True) for v in versions[1:repeat + 1]]
    warm = [push(v, cold=False) for v in versions[repeat + 1:]]
    for run in cold + warm:
        log(f"  edgesync {'new' if run['new_connections'] else 'kept'} connection: "
            f"{run['seconds']:.3f} s, {run['sent']} B delta, {run['wire_up']:,} B up on the wire")

    whole = []
    for version in versions[1:whole_repeat + 1]:
        bench.shaped.new_connection()
        carried = dict(bench.shaper.carried)
        (bench.device / "whole.docx").write_bytes(version)
        t0 = time.perf_counter()
        data = (bench.device / "whole.docx").read_bytes()
        reply = bench.shaped.put(whole_name, data, sha256=hashlib.sha256(data).hexdigest(),
                                 gzip_level=None)
        seconds = time.perf_counter() - t0
        if reply["upload"]["state"] != "uploaded":
            raise RuntimeError(f"{whole_name}: whole-file upload ended {reply['upload']}")
        edge = bench.edge_line("PUT", whole_name)
        whole.append({"seconds": seconds, "sent": reply["received"], "edge_ms": edge["ms"],
                      "upload_ms": edge["upload_ms"],
                      "wire_up": bench.shaper.carried["up"] - carried["up"]})
        log(f"  whole file: {seconds:.2f} s, {reply['received']:,} B, "
            f"{8 * len(data) / seconds / 1e6:.3f} Mbit/s of file")

    # "In the cloud" means it: the provider's copy is the last version pushed.
    cloud = (bench.cloud / name).read_bytes()
    if cloud != versions[repeat * 2]:
        raise RuntimeError(f"the cloud's {name} is not the last version pushed")

    es = median([r["seconds"] for r in cold])
    wf = median([r["seconds"] for r in whole])
    result = {
        "name": name, "nominal_bytes": nominal, "file_bytes": len(versions[1]),
        "gzip6_bytes": len(gzip.compress(versions[1], 6, mtime=0)),
        "delta_bytes_median": int(median([r["sent"] for r in cold])),
        "delta_bytes_diff_alone": delta_sizes,
        "diff_ms_median": round(median(diff_s) * 1000, 2),
        "edgesync_s_median": round(es, 4),
        "edgesync_kept_alive_s_median": round(median([r["seconds"] for r in warm]), 4),
        "whole_s_median": round(wf, 3),
        "whole_runs": len(whole), "edgesync_runs": len(cold),
        "speedup": round(wf / es, 1),
        "target": TARGETS.get(nominal),
        "edgesync_new_connection": cold, "edgesync_kept_alive": warm, "whole": whole,
    }
    result["pass"] = None if result["target"] is None else result["speedup"] >= result["target"]
    return result


def breakdown(result: dict) -> str:
    """Where edgesync's median save went, on a new connection."""
    runs = result["edgesync_new_connection"]
    total = median([r["seconds"] for r in runs]) * 1000
    request = median([r["request_s"] for r in runs]) * 1000
    edge = median([r["edge_ms"] for r in runs])
    apply_ = median([r["apply_ms"] for r in runs])
    upload = median([r["upload_ms"] for r in runs])
    diff = result["diff_ms_median"]
    device_other = total - request - diff
    network = request - edge
    wire = int(median([r["wire_up"] for r in runs]))
    return (f"{result['name']}: {total:.0f} ms = device diff {diff:.0f} + device other "
            f"{device_other:.0f} (read, hash, shadow) + network {network:.0f} (new TCP+TLS "
            f"connection and the request; {wire:,} B up on the wire) + edge {edge:.0f} "
            f"(rebuild and store {apply_:.0f}, cloud upload {upload:.0f}, the rest reading "
            f"the request)")


# --- main --------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="example: sync_bench.py --sizes 1M --repeat 5 --up-mbit 2 --rtt-ms 80")
    parser.add_argument("--sizes", default=DEFAULT_SIZES,
                        help=f"document sizes, comma-separated, K = 1000 (default {DEFAULT_SIZES})")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per measurement; medians are reported (default 3)")
    parser.add_argument("--whole-repeat", type=int, default=None,
                        help="runs of the whole-file upload (default: --repeat); 1 saves "
                             "about 2.7 minutes on the 10 MB file")
    parser.add_argument("--up-mbit", type=float, default=1.0, help="uplink rate (default 1)")
    parser.add_argument("--down-mbit", type=float, default=10.0,
                        help="downlink rate, 0 = unlimited (default 10)")
    parser.add_argument("--rtt-ms", type=float, default=40.0, help="round trip (default 40)")
    parser.add_argument("--quick", action="store_true", help="100 KB and 1 MB, one run each")
    parser.add_argument("--selftest", action="store_true",
                        help="only measure the shaped link (1 MB up, 1 MB down, echoes)")
    parser.add_argument("--out", type=Path, default=RESULTS / "sync_bench.json")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.repeat = "100K,1M", 1
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    if args.repeat < 1 or (args.whole_repeat is not None and args.whole_repeat < 1):
        parser.error("--repeat and --whole-repeat must be at least 1")
    whole_repeat = args.whole_repeat or args.repeat
    up_bps, rtt = args.up_mbit * 1e6, args.rtt_ms / 1000
    down_bps = args.down_mbit * 1e6 or None

    if args.selftest:
        link = check_link(up_bps, down_bps, rtt, payload=1_000_000)
        print(show_link(link))
        return 0

    estimate = sum(8 * s / up_bps * whole_repeat for s in sizes) + 10 * len(sizes) + 5
    log(f"sizes {', '.join(show_size(s) for s in sizes)}; {args.repeat} edgesync runs and "
        f"{whole_repeat} whole-file runs each; about {estimate / 60:.1f} minutes")
    link = check_link(up_bps, down_bps, rtt, payload=250_000)
    log(show_link(link))
    results: dict = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "options": {"sizes": sizes, "repeat": args.repeat, "whole_repeat": whole_repeat,
                    "up_mbit": args.up_mbit, "down_mbit": args.down_mbit or None,
                    "rtt_ms": args.rtt_ms},
        "link": link, "sizes": []}
    with tempfile.TemporaryDirectory(prefix="sync-bench-") as tmp:
        bench = Bench(Path(tmp), up_bps=up_bps, down_bps=down_bps, rtt=rtt)
        try:
            for size in sizes:
                results["sizes"].append(measure(bench, size, args.repeat, whole_repeat))
        finally:
            bench.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))

    print(f"save to 'in the cloud' over {args.up_mbit:g} Mbit/s up, {args.rtt_ms:g} ms RTT "
          f"(medians; new connection each time)")
    print(show_link(link))
    print()
    header = (f"{'document':>9} {'file B':>11} {'gzip -6 B':>11} {'delta B':>8} "
              f"{'edgesync s':>11} {'kept-alive s':>13} {'whole s':>9} {'speed-up':>9}  runs")
    print(header)
    for r in results["sizes"]:
        print(f"{show_size(r['nominal_bytes']):>9} {r['file_bytes']:>11,} "
              f"{r['gzip6_bytes']:>11,} {r['delta_bytes_median']:>8,} "
              f"{r['edgesync_s_median']:>11.3f} {r['edgesync_kept_alive_s_median']:>13.3f} "
              f"{r['whole_s_median']:>9.2f} {r['speedup']:>8.1f}x  "
              f"{r['edgesync_runs']}/{r['whole_runs']}")
    print()
    print("where edgesync's time goes (medians, ms):")
    for r in results["sizes"]:
        print("  " + breakdown(r))
    print()
    for r in results["sizes"]:
        label = f"{show_size(r['nominal_bytes'])} document, one-character edit"
        figures = (f"{r['speedup']}x faster to the cloud ({r['edgesync_s_median']:.3f} s "
                   f"against {r['whole_s_median']:.2f} s for the whole file")
        if r["whole_runs"] < r["edgesync_runs"]:
            figures += f"; whole file: {r['whole_runs']} run(s) only"
        if r["target"] is None:
            print(f"info  {label}: {figures})")
        else:
            print(f"{'PASS' if r['pass'] else 'FAIL'}  {label}: {figures}; "
                  f"target >= {r['target']:g}x)")
    print(f"wrote {args.out}")
    return 0 if all(r["pass"] is not False for r in results["sizes"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
