"""Running external programs for the delta benchmark: timeouts, tool discovery, versions.

Every command runs in its own process group, so that a timeout kills the tool and
anything it started (the Python workers start xdelta3 and zstd themselves), by the
process-group id of the child we started and nothing else.
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

__all__ = [
    "TOOLS",
    "MethodTimeout",
    "CommandFailed",
    "find_tools",
    "machine_info",
    "run",
]

#: The command-line peers and how to ask each one for its version.
TOOLS: dict[str, list[str]] = {
    "gzip": ["--version"],
    "xdelta3": ["-V"],
    "zstd": ["--version"],
    "rdiff": ["--version"],
}


class MethodTimeout(Exception):
    """A method ran past its time budget and was killed."""


class CommandFailed(Exception):
    """A command exited non-zero; the message carries the end of its stderr."""


def run(
    cmd: list[str],
    *,
    deadline: float,
    cwd: str | Path | None = None,
    stdout_path: str | Path | None = None,
    capture: bool = False,
) -> tuple[float, bytes]:
    """Run ``cmd`` and return (wall seconds, captured stdout or b"").

    :param deadline: a ``time.monotonic()`` value; the command is killed (its whole
        process group) when it is reached, and :class:`MethodTimeout` is raised.
    :param stdout_path: write the command's stdout to this file.
    :param capture: return stdout instead (for the JSON of a worker).
    :raises CommandFailed: on a non-zero exit.
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise MethodTimeout("no time left before starting " + Path(cmd[0]).name)
    out = open(stdout_path, "wb") if stdout_path else None  # noqa: SIM115
    try:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out if out else (subprocess.PIPE if capture else subprocess.DEVNULL),
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            stdout, stderr = proc.communicate(timeout=remaining)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise MethodTimeout(f"{Path(cmd[0]).name} killed after the time budget") from None
        elapsed = time.perf_counter() - start
    finally:
        if out:
            out.close()
    if proc.returncode != 0:
        tail = (stderr or b"").decode("utf-8", "replace").strip().splitlines()[-3:]
        raise CommandFailed(
            f"{Path(cmd[0]).name} exited {proc.returncode}: " + " | ".join(tail)
        )
    return elapsed, stdout or b""


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()


def find_tools() -> dict[str, dict[str, str | None]]:
    """Path and first version line of each peer tool (``path`` None when missing)."""
    found: dict[str, dict[str, str | None]] = {}
    for name, version_args in TOOLS.items():
        path = shutil.which(name)
        version = None
        if path:
            try:
                proc = subprocess.run(
                    [path, *version_args], capture_output=True, timeout=10, check=False
                )
                text = (proc.stdout or proc.stderr).decode("utf-8", "replace").strip()
                version = text.splitlines()[0].strip("* ") if text else None
                for cut in (", Copyright", ", by "):  # keep "Xdelta version 3.0.11"
                    version = version.split(cut)[0] if version else version
            except (OSError, subprocess.TimeoutExpired):
                version = None
        found[name] = {"path": path, "version": version}
    return found


def machine_info() -> dict[str, object]:
    """What a reader needs to compare this run with another one."""
    info: dict[str, object] = {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
    }
    try:
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        pass
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_bytes"] = pages * page_size
    except (ValueError, OSError, AttributeError):
        pass
    return info


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None
