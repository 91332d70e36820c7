"""The methods the delta benchmark measures, edgesync and its peers, one pair at a time.

Each method takes one pair (``old``, ``new``) and returns a plain dict (JSON-ready):
``status`` (``ok``, ``skipped``, ``timeout``, ``error``), ``bytes`` sent, median
``encode_s`` / ``decode_s`` wall time over the repeats, ``exact`` (the decoded file
equals ``new`` byte for byte), ``members_equal`` (every ZIP member's content equals
``new``'s; for a non-ZIP file, the same as ``exact``) and a ``note``.

The command-line peers (gzip, xdelta3, zstd, rdiff) run from the parent process.
The Python methods (edgesync, the paper's method, and the unz+ and frame+ peers, which
call ``edgesync.delta._container``) run in a worker process, this file run as a script,
so that a method that runs past its budget is killed rather than hanging the run, and
so that each one's peak memory is its own::

    python benchmarks/_peers.py REQUEST_JSON      # prints one result as JSON
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import resource
import statistics
import sys
import time
import traceback
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# benchmarks/ is not a package: its modules import each other as top-level modules,
# both when delta_bench.py imports this one and when it runs as the worker.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _proc import CommandFailed, MethodTimeout, run  # noqa: E402

__all__ = [
    "BYTE_EXACT_PEERS",
    "FRAME_PEERS",
    "STREAM_METHODS",
    "LABELS",
    "METHODS",
    "Job",
    "Pair",
    "measure_plain_tool",
    "run_worker",
    "zip_members",
]

#: Every method, in the order they run for a pair (the unz+ and frame+ peers reuse the
#: plain tools' figures on non-ZIP files, so they come after them).
METHODS = ["gzip9", "rdiff", "xdelta3", "zstd", "unz_xdelta3", "unz_zstd", "frame_xdelta3",
           "frame_zstd", "paper", "edgesync"]

LABELS = {
    "edgesync": "edgesync",
    "gzip9": "gzip -9",
    "rdiff": "rdiff Δ",
    "xdelta3": "xdelta3",
    "zstd": "zstd --patch-from",
    "unz_xdelta3": "unz+xdelta3",
    "unz_zstd": "unz+zstd",
    "frame_xdelta3": "frame+xdelta3",
    "frame_zstd": "frame+zstd",
    "paper": "EC paper",
}

#: Peers whose output rebuilds ``new`` byte for byte (when their ``exact`` is true).
#: rdiff counts with its delta alone (baseline's "rdiff Δ" column); the paper's method
#: is not one of them: its relay re-zips. The unz+ peers are baseline.md's reference
#: peer: the tools on the "unzipped stream", ``explode(layout="inplace")``.
BYTE_EXACT_PEERS = ["gzip9", "rdiff", "xdelta3", "zstd", "unz_xdelta3", "unz_zstd"]

#: Informational peers, NOT counted for the targets: the same tools on
#: ``explode(layout="frame")``, a stream that borrows edgesync's own compact frame.
#: They show how much of edgesync's lead comes from its frame rather than its codec.
FRAME_PEERS = ["frame_xdelta3", "frame_zstd"]

#: The tools on an exploded stream: method -> (explode layout, tool).
STREAM_METHODS = {
    "unz_xdelta3": ("inplace", "xdelta3"),
    "unz_zstd": ("inplace", "zstd"),
    "frame_xdelta3": ("frame", "xdelta3"),
    "frame_zstd": ("frame", "zstd"),
}

#: Methods that run in a worker process (Python code that must be killable).
WORKER_METHODS = {"edgesync", "paper", *STREAM_METHODS}


@dataclass
class Pair:
    """One corpus pair, as the manifest and the directory describe it."""

    id: str
    type: str
    family: str
    size: str
    edit: str
    old: str
    new: str
    old_bytes: int
    new_bytes: int
    is_zip: bool
    unzipped_bytes: int  # sum of the member sizes of new (the file size if not a ZIP)
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class Job:
    """What a method needs to measure one pair."""

    pair: Pair
    work: str  # a scratch directory of this method for this pair
    repeats: int
    timeout: float
    tools: dict[str, str | None]  # tool name -> path (None when missing)
    memory: str = "both"  # edgesync peak memory: both, rss, tracemalloc, none
    zstd_stream_cap: int = 16 << 20


def result(method: str, status: str, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "method": method,
        "status": status,
        "bytes": None,
        "encode_s": None,
        "decode_s": None,
        "exact": None,
        "members_equal": None,
        "note": "",
    }
    out.update(fields)
    return out


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def zip_members(data: bytes) -> dict[str, bytes] | None:
    """Name -> content of every member, or None if ``data`` is not a readable ZIP."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return {info.filename: zf.read(info) for info in zf.infolist()}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        # NotImplementedError: a compression method the zipfile module cannot read.
        return None


def _same_file(path: str | Path, data: bytes) -> bool:
    return Path(path).read_bytes() == data


# --- the command-line peers (run from the parent) ------------------------------------


def _xdelta3(tool: str, old: Path, new: Path, work: Path, deadline: float,
             repeats: int) -> tuple[int, list[float], list[float], bool]:
    """``xdelta3 -e -9 -S djw -s OLD NEW``, then ``xdelta3 -d -s OLD DELTA``.

    Runs with the inputs' directory as cwd and bare file names, so the VCDIFF
    application header carries short names (``new.docx//old.docx/``), as baseline's.
    """
    assert old.parent == new.parent
    delta, out = work / "xdelta3.vcdiff", work / "xdelta3.out"
    enc, dec = [], []
    for _ in range(repeats):
        t, _o = run([tool, "-e", "-9", "-S", "djw", "-f", "-s", old.name, new.name, str(delta)],
                    deadline=deadline, cwd=old.parent)
        enc.append(t)
    for _ in range(repeats):
        t, _o = run([tool, "-d", "-f", "-s", old.name, str(delta), str(out)],
                    deadline=deadline, cwd=old.parent)
        dec.append(t)
    return delta.stat().st_size, enc, dec, _same_file(out, new.read_bytes())


def _zstd(tool: str, old: Path, new: Path, work: Path, deadline: float,
          repeats: int) -> tuple[int, list[float], list[float], bool]:
    """``zstd -19 --long=27 --patch-from=OLD NEW``, then ``zstd -d --long=27 --patch-from=OLD``."""
    delta, out = work / "zstd.zst", work / "zstd.out"
    enc, dec = [], []
    for _ in range(repeats):
        t, _o = run([tool, "-q", "-f", "-19", "--long=27", f"--patch-from={old}", str(new),
                     "-o", str(delta)], deadline=deadline)
        enc.append(t)
    for _ in range(repeats):
        t, _o = run([tool, "-q", "-f", "-d", "--long=27", f"--patch-from={old}", str(delta),
                     "-o", str(out)], deadline=deadline)
        dec.append(t)
    return delta.stat().st_size, enc, dec, _same_file(out, new.read_bytes())


def _gzip(job: Job, deadline: float) -> dict[str, Any]:
    tool, new, work = job.tools["gzip"], Path(job.pair.new), Path(job.work)
    packed, out = work / "new.gz", work / "gz.out"
    enc = [run([tool, "-9", "-c", str(new)], deadline=deadline, stdout_path=packed)[0]
           for _ in range(job.repeats)]
    dec = [run([tool, "-d", "-c", str(packed)], deadline=deadline, stdout_path=out)[0]
           for _ in range(job.repeats)]
    exact = _same_file(out, new.read_bytes())
    return result("gzip9", "ok", bytes=packed.stat().st_size, encode_s=median(enc),
                  decode_s=median(dec), exact=exact, members_equal=exact,
                  note="the whole new file, gzip -9 -c")


def _rdiff(job: Job, deadline: float) -> dict[str, Any]:
    tool, old, new, work = job.tools["rdiff"], job.pair.old, job.pair.new, Path(job.work)
    sig, delta, out = work / "rdiff.sig", work / "rdiff.delta", work / "rdiff.out"
    sig_t, delta_t, patch_t = [], [], []
    for _ in range(job.repeats):
        for p in (sig, delta):
            p.unlink(missing_ok=True)
        sig_t.append(run([tool, "signature", old, str(sig)], deadline=deadline)[0])
        delta_t.append(run([tool, "delta", str(sig), new, str(delta)], deadline=deadline)[0])
    for _ in range(job.repeats):
        out.unlink(missing_ok=True)
        patch_t.append(run([tool, "patch", old, str(delta), str(out)], deadline=deadline)[0])
    exact = _same_file(out, Path(new).read_bytes())
    sig_bytes, delta_bytes = sig.stat().st_size, delta.stat().st_size
    return result("rdiff", "ok", bytes=delta_bytes, encode_s=median(delta_t),
                  decode_s=median(patch_t), exact=exact, members_equal=exact,
                  signature_bytes=sig_bytes, signature_plus_delta=sig_bytes + delta_bytes,
                  signature_s=median(sig_t),
                  note="bytes = delta alone; encode_s = rdiff delta (signature_s apart)")


def measure_plain_tool(method: str, job: Job) -> dict[str, Any]:
    """gzip9, rdiff, xdelta3 or zstd on the files as they are."""
    tool_name = {"gzip9": "gzip"}.get(method, method)
    if not job.tools.get(tool_name):
        return result(method, "skipped", note=f"{tool_name} not found on PATH (make bench-deps)")
    deadline = time.monotonic() + job.timeout
    try:
        if method == "gzip9":
            return _gzip(job, deadline)
        if method == "rdiff":
            return _rdiff(job, deadline)
        fn = _xdelta3 if method == "xdelta3" else _zstd
        size, enc, dec, exact = fn(job.tools[tool_name], Path(job.pair.old), Path(job.pair.new),
                                   Path(job.work), deadline, job.repeats)
        return result(method, "ok", bytes=size, encode_s=median(enc), decode_s=median(dec),
                      exact=exact, members_equal=exact)
    except MethodTimeout as exc:
        return result(method, "timeout", note=f"{exc} ({job.timeout:g} s)")
    except (CommandFailed, OSError) as exc:
        return result(method, "error", note=str(exc))


# --- the worker methods (run in a child process) -------------------------------------


def run_worker(method: str, job: Job) -> dict[str, Any]:
    """Measure ``method`` in a child Python process, killed at the job's timeout."""
    request = json.dumps({"method": method, "job": asdict(job)})
    req_path = Path(job.work) / "request.json"
    req_path.write_text(request)
    try:
        _t, stdout = run([sys.executable, str(Path(__file__).resolve()), str(req_path)],
                         deadline=time.monotonic() + job.timeout, capture=True)
    except MethodTimeout:
        return result(method, "timeout", note=f"killed after {job.timeout:g} s")
    except CommandFailed as exc:
        return result(method, "error", note=f"worker crashed: {exc}")
    try:
        return json.loads(stdout.decode("utf-8").strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        return result(method, "error", note=f"worker printed no result ({exc})")


def _worker_main(req_path: str) -> None:
    request = json.loads(Path(req_path).read_text())
    method = request["method"]
    raw = request["job"]
    job = Job(**{**raw, "pair": Pair(**raw["pair"])})
    try:
        if method == "edgesync":
            out = _edgesync(job)
        elif method == "edgesync_tracemalloc":
            out = _edgesync_tracemalloc(job)
        elif method == "paper":
            out = _paper(job)
        elif method in STREAM_METHODS:
            out = _unzipped(method, job)
        else:
            out = result(method, "error", note=f"unknown worker method {method!r}")
    except MemoryError:
        out = result(method, "error", note="MemoryError")
    except Exception as exc:  # report, don't crash: one pair's failure is a measurement
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        out = result(method, "error", note=tb[:500])
    print(json.dumps(out))


def _maxrss_bytes() -> int:
    # Linux reports ru_maxrss in KiB (macOS in bytes).
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def _plain(value: Any) -> Any:
    """Make a describe() field JSON-ready (enums, bytes, nested values)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if hasattr(value, "value") and hasattr(value, "name"):  # an Enum
        return _plain(value.value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def _description(info: Any) -> dict[str, Any]:
    fields = ("version", "container", "base_sha256", "result_sha256", "exact", "size",
              "kept", "removed")
    out = {name: _plain(getattr(info, name, None)) for name in fields}
    out["members"] = [
        {name: _plain(getattr(m, name, None))
         for name in ("name", "operation", "codec", "encoded_size")}
        for m in (getattr(info, "members", None) or ())
    ]
    return out


def _edgesync_tracemalloc(job: Job) -> dict[str, Any]:
    """The tracemalloc peak of one diff, in a fresh process of its own.

    Apart from the timed runs because tracing slows allocation-heavy code several
    times over, and in a fresh process so that nothing a first run left behind
    (caches, grown buffers) hides what a diff needs.
    """
    import tracemalloc

    from edgesync.delta import diff

    old, new = Path(job.pair.old).read_bytes(), Path(job.pair.new).read_bytes()
    tracemalloc.start()
    start = time.perf_counter()
    diff(old, new, path=Path(job.pair.new).name)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result("edgesync_tracemalloc", "ok", peak_tracemalloc_bytes=peak,
                  traced_diff_s=seconds)


def _edgesync(job: Job) -> dict[str, Any]:
    try:
        from edgesync.delta import describe, diff, patch
    except Exception as exc:  # noqa: BLE001 - any import failure means "not measurable yet"
        return result("edgesync", "skipped", note=f"edgesync.delta not importable: {exc}")
    old, new = Path(job.pair.old).read_bytes(), Path(job.pair.new).read_bytes()
    name = Path(job.pair.new).name

    rss_before = _maxrss_bytes()
    diff_t = []
    delta = b""
    for _ in range(job.repeats):
        start = time.perf_counter()
        delta = diff(old, new, path=name)
        diff_t.append(time.perf_counter() - start)
        if len(diff_t) == 1:
            rss_peak = _maxrss_bytes() - rss_before  # the first run, before any tracing
    patch_t = []
    rebuilt = b""
    for _ in range(job.repeats):
        start = time.perf_counter()
        rebuilt = patch(old, delta)
        patch_t.append(time.perf_counter() - start)

    info = describe(delta)
    desc = _description(info)
    exact = rebuilt == new
    new_members = zip_members(new) if job.pair.is_zip else None
    members_equal = exact or (new_members is not None and zip_members(rebuilt) == new_members)
    sha_ok = hashlib.sha256(rebuilt).hexdigest() == desc["result_sha256"]
    if exact:
        rebuild = "exact"
        note = ""
    elif desc["exact"] is False and sha_ok and members_equal:
        rebuild = "canonical"
        note = "canonical rebuild, as describe() promised (result hash and member contents ok)"
    else:
        rebuild = "mismatch"
        why = []
        if desc["exact"] is not False:
            why.append("describe() promised an exact rebuild")
        if not sha_ok:
            why.append("result hash differs from describe().result_sha256")
        if not members_equal:
            why.append("member contents differ from new")
        note = "patch result differs from new: " + "; ".join(why)
    rss = rss_peak if job.memory in ("both", "rss") else None
    return result(
        "edgesync", "ok", bytes=len(delta), encode_s=median(diff_t), decode_s=median(patch_t),
        exact=exact, members_equal=members_equal, rebuild=rebuild, note=note,
        base_sha_ok=desc["base_sha256"] == hashlib.sha256(old).hexdigest(),
        result_sha_ok=sha_ok,
        peak_rss_bytes=rss, peak_tracemalloc_bytes=None, peak_bytes=rss,
        describe=desc,
    )


# The paper's method: EdgeCourier 2017, as released (reference/paper.md §1.3, §1.10).


def _as_text(data: bytes) -> str | None:
    """A member's text as EdgeCourier's Python reads it, or None for a binary member.

    Strict UTF-8 (what XML members are, and what ``patch_toText``'s URL quoting can
    encode: surrogate escapes would not survive it); a NUL byte also means binary.
    """
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


_PATCH_MARK = b"@@ -"  # every patch_toText starts so; a whole member (almost) never
_EPOCH = (1980, 1, 1, 0, 0, 0)


def _ec_entry(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def ec_encode(old: bytes, new: bytes, dmp: Any) -> bytes:
    """The paper's edit-patch: a ZIP of ``patch_toText`` per changed member.

    Identical members are left out; new members and changed binary members go in
    whole, told apart from a patch by the ``@@ -`` every patch text starts with (as
    ``edgesync.delta._edgecourier`` reads them). Deleted members are listed in the
    archive comment (EdgeCourier had no way to say so; no pair of the corpus deletes
    one). A non-ZIP file is one member: ``P`` + patch text or ``W`` + the whole
    file, gzip'd.
    """
    old_m, new_m = zip_members(old), zip_members(new)
    if old_m is None or new_m is None:
        ot, nt = _as_text(old), _as_text(new)
        if ot is not None and nt is not None:
            body = b"P" + dmp.patch_toText(dmp.patch_make(ot, nt)).encode("utf-8")
        else:
            body = b"W" + new
        return gzip.compress(body, compresslevel=9, mtime=0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in new_m.items():
            before = old_m.get(name)
            if before is None:
                _ec_entry(zf, name, data)
            elif before == data:
                continue
            else:
                ot, nt = _as_text(before), _as_text(data)
                if ot is not None and nt is not None:
                    text = dmp.patch_toText(dmp.patch_make(ot, nt))
                    _ec_entry(zf, name, text.encode("utf-8"))
                else:
                    _ec_entry(zf, name, data)
        deleted = [name for name in old_m if name not in new_m]
        if deleted:
            zf.comment = "\n".join(deleted).encode("utf-8")
    return buf.getvalue()


def ec_decode(old: bytes, edit: bytes, dmp: Any) -> tuple[bytes, int]:
    """The relay: patch the members of ``old`` and re-zip them with ``zipfile``.

    :returns: the rebuilt file and the number of dmp hunks that failed to apply.
    """
    failed = 0
    old_m = zip_members(old)
    if old_m is None:
        body = gzip.decompress(edit)
        if body[:1] == b"W":
            return body[1:], 0
        text, hunks = dmp.patch_apply(dmp.patch_fromText(body[1:].decode("utf-8")),
                                      old.decode("utf-8"))
        return text.encode("utf-8"), hunks.count(False)
    members = dict(old_m)
    with zipfile.ZipFile(io.BytesIO(edit)) as zf:
        for name in zf.comment.decode("utf-8").split("\n") if zf.comment else ():
            members.pop(name, None)
        for info in zf.infolist():
            payload = zf.read(info)
            if info.filename in old_m and payload.startswith(_PATCH_MARK):
                text, hunks = dmp.patch_apply(dmp.patch_fromText(payload.decode("utf-8")),
                                              old_m[info.filename].decode("utf-8"))
                failed += hunks.count(False)
                members[info.filename] = text.encode("utf-8")
            else:
                members[info.filename] = payload
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in members.items():
            out.writestr(name, data)  # zipfile's defaults: the save time, level 6
    return buf.getvalue(), failed


def _paper(job: Job) -> dict[str, Any]:
    from diff_match_patch import diff_match_patch

    old, new = Path(job.pair.old).read_bytes(), Path(job.pair.new).read_bytes()
    dmp = diff_match_patch()  # library defaults: Diff_Timeout = 1.0 s
    enc, dec = [], []
    edit = rebuilt = b""
    failed = 0
    for _ in range(job.repeats):
        start = time.perf_counter()
        edit = ec_encode(old, new, dmp)
        enc.append(time.perf_counter() - start)
    for _ in range(job.repeats):
        start = time.perf_counter()
        rebuilt, failed = ec_decode(old, edit, dmp)
        dec.append(time.perf_counter() - start)
    exact = rebuilt == new
    if job.pair.is_zip:
        members_equal = zip_members(rebuilt) == zip_members(new)
    else:
        members_equal = exact
    note = f"{failed} dmp hunks failed to apply" if failed else ""
    return result("paper", "ok", bytes=len(edit), encode_s=median(enc), decode_s=median(dec),
                  exact=exact, members_equal=members_equal, failed_hunks=failed, note=note,
                  diff_timeout_s=dmp.Diff_Timeout)


# The unz+ and frame+ peers: the same tools on an exploded stream, rebuilt by implode.
# unz+ uses layout "inplace", baseline.md's reference "unzipped stream" (the archive as
# it is, each deflated member inflated in place, after a table of deflate recipes and
# lengths); frame+ uses layout "frame", which borrows edgesync's compact frame.


def _unzipped(method: str, job: Job) -> dict[str, Any]:
    layout, tool_name = STREAM_METHODS[method]
    tool = job.tools.get(tool_name)
    if not tool:
        return result(method, "skipped", note=f"{tool_name} not found on PATH")
    try:
        from edgesync.delta._container import explode, implode
    except Exception as exc:  # noqa: BLE001 - not written yet, or broken: skip clearly
        return result(method, "skipped",
                      note=f"edgesync.delta._container not importable yet: {exc}")
    deadline = time.monotonic() + job.timeout
    work = Path(job.work)
    old, new = Path(job.pair.old).read_bytes(), Path(job.pair.new).read_bytes()
    ext = Path(job.pair.new).suffix
    old_s, new_s = work / f"old{ext}.unz", work / f"new{ext}.unz"
    tool_fn = _xdelta3 if tool_name == "xdelta3" else _zstd

    explode_enc = []
    for _ in range(job.repeats):
        start = time.perf_counter()
        old_stream, new_stream = explode(old, layout=layout), explode(new, layout=layout)
        explode_enc.append(time.perf_counter() - start)
    stream_bytes = max(len(old_stream), len(new_stream))
    if tool_name == "zstd" and stream_bytes > job.zstd_stream_cap:
        return result(method, "skipped", stream_bytes=stream_bytes, layout=layout,
                      note=f"stream {stream_bytes / 1e6:.1f} MB > cap "
                           f"{job.zstd_stream_cap / 2**20:g} MiB (zstd -19 is too slow there)")
    old_s.write_bytes(old_stream)
    new_s.write_bytes(new_stream)
    del new_stream
    size, tool_enc, tool_dec, stream_exact = tool_fn(tool, old_s, new_s, work, deadline,
                                                     job.repeats)
    decoded_stream = (work / f"{tool_name}.out")
    # Decode on the relay: explode its old, run the tool (timed above), implode.
    relay_explode, relay_implode = [], []
    rebuilt = b""
    for _ in range(job.repeats):
        start = time.perf_counter()
        explode(old, layout=layout)
        relay_explode.append(time.perf_counter() - start)
        stream = decoded_stream.read_bytes()
        start = time.perf_counter()
        rebuilt = implode(stream)
        relay_implode.append(time.perf_counter() - start)
    exact = rebuilt == new
    members_equal = exact or zip_members(rebuilt) == zip_members(new)
    return result(
        method, "ok", bytes=size,
        encode_s=median(explode_enc) + median(tool_enc),
        decode_s=median(relay_explode) + median(tool_dec) + median(relay_implode),
        exact=exact, members_equal=members_equal, layout=layout, stream_bytes=stream_bytes,
        stream_roundtrip_exact=stream_exact,
        explode_s=median(explode_enc), implode_s=median(relay_implode),
        tool_encode_s=median(tool_enc), tool_decode_s=median(tool_dec),
        note="" if exact else "implode did not rebuild new byte for byte",
    )


if __name__ == "__main__":
    if len(sys.argv) != 2 or not os.path.isfile(sys.argv[1]):
        sys.exit("usage: python benchmarks/_peers.py REQUEST_JSON  (run by delta_bench.py)")
    _worker_main(sys.argv[1])
