"""Opt-in: build the image and run N edges through a real Docker-compatible engine.

Runs only with ``EDGESYNC_CONTAINER_TESTS=1`` and an engine the ``docker`` CLI
reaches (``docker info`` succeeds; ``DOCKER_HOST`` is honoured, and
``$EDGESYNC_DOCKER`` may name another CLI such as ``podman``). Docker Hub is
often out of reach: ``EDGESYNC_TEST_BASE_IMAGE`` names a local base image with
python3 and its venv module. ``packaging/docker/tests/podman-engine.sh`` starts
podman's Docker API service on a machine without Docker (packaging.md D.1);
that is a real OCI build and run through the Docker API, but not Docker
Engine itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from edgesync_pack_docker.launcher import LABEL_LAUNCHER, LaunchConfig, docker_program

from edgesync.agent import Agent, EdgeClient

PACK = str(Path(sys.executable).with_name("edgesync-pack"))
COUNT = 3


def _engine() -> list[str] | None:
    if os.environ.get("EDGESYNC_CONTAINER_TESTS") != "1":
        return None
    program = docker_program()
    try:
        done = subprocess.run([*program, "info"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return program if done.returncode == 0 else None


def _labelled(engine: list[str], label: str) -> tuple[list[str], list[str]]:
    """The containers (any state) and volumes that carry ``label`` (``KEY=VALUE``)."""
    containers = subprocess.run([*engine, "ps", "-a", "-q", "--filter", f"label={label}"],
                                capture_output=True, text=True, check=True).stdout.split()
    volumes = subprocess.run([*engine, "volume", "ls", "-q", "--filter", f"label={label}"],
                             capture_output=True, text=True, check=True).stdout.split()
    return containers, volumes


ENGINE = _engine()
pytestmark = pytest.mark.skipif(
    ENGINE is None, reason="opt-in: set EDGESYNC_CONTAINER_TESTS=1 with a reachable engine "
                           "(docker info must succeed)")


def test_build_run_push_and_clean_through_a_real_engine(tmp_path: Path):
    assert ENGINE is not None
    out = tmp_path / "context"
    base = os.environ.get("EDGESYNC_TEST_BASE_IMAGE", "python:3.11-slim-bookworm")
    tag = f"localhost/edgesync-edge-test:{os.getpid()}"
    done = subprocess.run([PACK, "docker", "--provider", "local", "--out", str(out),
                           "--base-image", base, "--tag", tag, "--base-port", "18443",
                           "--build"], capture_output=True, text=True, timeout=1800,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    launch = str(out / "launch")
    config = LaunchConfig.load(out / "launch.json")
    label = f"{LABEL_LAUNCHER}={config.launcher_id}"
    try:
        created = subprocess.run([launch, "create", str(COUNT)], capture_output=True,
                                 text=True, timeout=600, check=False)
        assert created.returncode == 0, created.stdout + created.stderr
        # Again: everything runs, so nothing is started or replaced.
        again = subprocess.run([launch, "create", str(COUNT)], capture_output=True,
                               text=True, timeout=600, check=False)
        assert again.returncode == 0, again.stdout + again.stderr
        assert again.stdout.count(": already running") == COUNT, again.stdout
        for index in range(1, COUNT + 1):
            folder = out / "instances" / f"edgesync-edge-{index}"
            token = (folder / "token").read_text().strip()
            cert = (folder / "edge" / "tls" / "cert.pem").read_text()
            from edgesync.tls import fingerprint

            device = tmp_path / f"device{index}"
            device.mkdir()
            agent = Agent(device, tmp_path / f"agent{index}",
                          EdgeClient(f"https://127.0.0.1:{config.base_port + index - 1}",
                                     token, fingerprint=fingerprint(cert), retries=2))
            note = device / "note.txt"
            note.write_text(f"user {index}: " + "a sentence to edit. " * 400)
            assert agent.push(note).state == "uploaded"
            note.write_text(f"user {index}: " + "a sentence to edit. " * 399 + "edited.")
            second = agent.push(note)
            assert (second.mode, second.state) == ("delta", "uploaded")
            cloud = subprocess.run(
                [*ENGINE, "exec", f"edgesync-edge-{index}", "cat",
                 "/var/lib/edgesync/cloud/note.txt"], capture_output=True, text=True,
                check=True).stdout
            assert cloud == note.read_text()
        # The query that must come back empty after the clean finds every edge
        # now, so an empty answer then means "removed", not "never matched".
        running, volumes = _labelled(ENGINE, label)
        assert (len(running), len(volumes)) == (COUNT, COUNT), (running, volumes)
    finally:
        cleaned = subprocess.run([launch, "clean", "--purge"], capture_output=True, text=True,
                                 timeout=300, check=False)
        # Look before removing the image: podman's 'rmi -f' also removes the
        # containers made from it, which would hide one that clean left behind.
        left = _labelled(ENGINE, label)
        subprocess.run([*ENGINE, "rmi", "-f", tag], capture_output=True, check=False)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert left == ([], []), cleaned.stdout
    # --purge also deletes the instance folders (tokens, private keys).
    assert [p.name for p in (out / "instances").iterdir() if p.is_dir()] == []
