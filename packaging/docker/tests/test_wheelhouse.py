"""``edgesync-pack docker`` for real, without a container engine.

One build per module: the real command writes the build context for a
Dropbox edge. The Dockerfile's own install step (its ``RUN ... pip install``,
read with dockerfile-parse) then runs on this machine into a fresh virtual
environment, offline (``--no-index``), and the Dockerfile's ``CMD`` starts the
edge from it with the Dockerfile's ``ENV``, the edge folder a launcher
instance gets, and a state folder. The agent pushes a document and a delta
over HTTPS on loopback; they reach the Dropbox emulator through the installed
plugin and SDK; the ``HEALTHCHECK`` command reports healthy.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser
from edgesync_dropbox.testing import DropboxEmulator
from edgesync_pack_docker.render import EDGE_DIR, STATE_DIR, VENV

from edgesync.agent import Agent, EdgeClient
from edgesync.pack.instances import plan_instances, prepare_instance
from edgesync.testing.documents import edit_xlsx, make_xlsx
from edgesync.testing.edge import free_port, read_serving

PACK = str(Path(sys.executable).with_name("edgesync-pack"))
BASE_PYTHON = Path(getattr(sys, "_base_executable", sys.executable))


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docker") / "context"
    done = subprocess.run([PACK, "docker", "--provider", "dropbox", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return out


def _instructions(context: Path) -> list[dict]:
    parser = DockerfileParser(fileobj=io.BytesIO((context / "Dockerfile").read_bytes()))
    return parser.structure


def test_the_context_holds_only_the_pure_closure(context: Path):
    wheels = sorted(p.name for p in (context / "wheels").iterdir())
    assert all(name.endswith("-none-any.whl") for name in wheels)
    names = {name.split("-")[0].lower() for name in wheels}
    assert {"edgesync", "edgesync_dropbox", "dropbox", "stone", "requests"} <= names
    assert not names & {"cryptography", "click", "watchdog", "jinja2", "markupsafe"}
    assert "*" in (context / ".dockerignore").read_text().splitlines()


@pytest.fixture(scope="module")
def venv(context: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build stage's RUN, as written in the Dockerfile, into a folder of our own."""
    root = tmp_path_factory.mktemp("image")
    venv = root / "opt-edgesync"
    (run,) = [i["value"] for i in _instructions(context)
              if i["instruction"] == "RUN" and "pip install" in i["value"]]
    assert "--no-index" in run and "--no-deps" in run
    script = run.replace(VENV, str(venv)).replace("/tmp/wheels/", f"{context}/wheels/")
    env = {"PATH": f"{BASE_PYTHON.parent}{os.pathsep}{os.environ['PATH']}",
           "PIP_NO_INDEX": "1", "PIP_CONFIG_FILE": os.devnull}
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return venv


def test_the_wheels_install_offline_into_a_fresh_environment(venv: Path):
    listing = subprocess.run([str(venv / "bin" / "python3"), "-m", "pip", "list",
                              "--format", "json"], capture_output=True, text=True, check=True)
    installed = {item["name"].lower() for item in json.loads(listing.stdout)}
    assert {"edgesync", "edgesync-dropbox", "dropbox", "cheroot"} <= installed
    assert "cryptography" not in installed and "click" not in installed


def _container_env(context: Path, venv: Path, edge_dir: Path, state: Path) -> dict[str, str]:
    """The Dockerfile's ENV, with the image's folders mapped to ours."""
    env: dict[str, str] = {"PATH": "/usr/bin:/bin"}
    for item in _instructions(context):
        if item["instruction"] == "ENV":
            parser = DockerfileParser(fileobj=io.BytesIO(
                f"FROM scratch\nENV {item['value']}\n".encode()))
            for key, value in parser.envs.items():
                env[key] = (value.replace("$PATH", env["PATH"]).replace(VENV, str(venv))
                            .replace(EDGE_DIR, str(edge_dir)).replace(STATE_DIR, str(state)))
    return env


def _exec_form(context: Path, instruction: str) -> list[str]:
    (value,) = [i["value"] for i in _instructions(context) if i["instruction"] == instruction]
    if instruction == "HEALTHCHECK":
        value = value.split("CMD", 1)[1]
    return json.loads(value)


def test_the_images_command_serves_and_a_delta_reaches_dropbox(context: Path, venv: Path,
                                                              tmp_path: Path):
    with DropboxEmulator() as emulator:
        (instance,) = plan_instances(1, root=tmp_path / "instances", prefix="edge",
                                     base_port=free_port(), users=["ana"])
        token_file = instance.edge_dir.parent / "dropbox.json"
        token_file.parent.mkdir(parents=True)
        token_file.write_text(json.dumps({"app_key": emulator.app_key,
                                          "refresh_token": emulator.link_account()}))
        fingerprint = prepare_instance(
            instance, provider="dropbox", listen=f"127.0.0.1:{instance.port}", names=["localhost"],
            options={"app_key": emulator.app_key, "token_file": str(token_file),
                     "root": "/Edge", "emulator": emulator.url})
        token = instance.token_file.read_text().strip()
        env = _container_env(context, venv, instance.edge_dir, tmp_path / "state")
        assert env["EDGESYNC_LOAD_PLUGINS"] == "dropbox"
        command = _exec_form(context, "CMD")
        assert command == ["python3", "-m", "edgesync.edge"]
        process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        try:
            read_serving(process)
            health = subprocess.run(_exec_form(context, "HEALTHCHECK"), env=env,
                                    capture_output=True, text=True, timeout=30, check=False)
            assert health.returncode == 0, health.stderr
            (tmp_path / "device").mkdir()
            agent = Agent(tmp_path / "device", tmp_path / "agent",
                          EdgeClient(f"https://127.0.0.1:{instance.port}", token,
                                     fingerprint=fingerprint, retries=1))
            sheet = tmp_path / "device" / "budget.xlsx"
            base = make_xlsx(30, seed=1)
            sheet.write_bytes(base)
            first = agent.push(sheet)
            edited = edit_xlsx(base, "cell", seed=2)
            sheet.write_bytes(edited)
            second = agent.push(sheet)
        finally:
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        assert (first.mode, first.state) == ("full", "uploaded"), err
        assert (second.mode, second.state) == ("delta", "uploaded"), err
        assert emulator.file("/Edge/budget.xlsx") == edited
    assert (tmp_path / "state" / "store").is_dir()

