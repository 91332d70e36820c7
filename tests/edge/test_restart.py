"""``edgesync serve`` as a real process: set up by the CLI, killed with SIGKILL, restarted.

Nothing the edge acknowledged may be lost: a version acknowledged while the
cloud could not take it is uploaded after a restart, and the edge still holds
it as the base for the next delta.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from edgesync.delta import diff
from edgesync.testing.documents import edit_docx, make_docx
from edgesync.testing.edge import read_serving
from edgesync.testing.waiting import eventually
from edgesync.tls import pinned_session

DELTA = {"Content-Type": "application/vnd.edgesync.delta"}


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgesync", *args], capture_output=True,
                          text=True, timeout=60)


class Serve:
    """One ``edgesync serve`` process and a pinned, authenticated session to it."""

    def __init__(self, edge_dir: Path, token: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "edgesync", "serve", "--dir", str(edge_dir),
             "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.url, self.fingerprint = read_serving(self.process)
        self.session = pinned_session(self.fingerprint)
        self.session.headers["Authorization"] = f"Bearer {token}"

    def file(self, path: str) -> str:
        return f"{self.url}/v1/files/{path}"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.process.stdout.close()
        self.process.stderr.close()

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=20)
        return out


@pytest.fixture
def edge_setup(tmp_path):
    edge_dir = tmp_path / "edge"
    made = cli("edge", "init", str(edge_dir), "--listen", "127.0.0.1:0", "--json")
    assert made.returncode == 0, made.stderr
    info = json.loads(made.stdout)
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", info["fingerprint"])
    added = cli("edge", "token", "add", "me", "--dir", str(edge_dir), "--json")
    assert added.returncode == 0, added.stderr
    token = json.loads(added.stdout)["token"]
    assert token not in (edge_dir / "tokens.json").read_text()  # stored hashed
    assert oct((edge_dir / "tokens.json").stat().st_mode & 0o777) == "0o600"
    return edge_dir, token, info["fingerprint"]


def test_sigkill_after_an_acknowledged_save_loses_nothing(edge_setup):
    edge_dir, token, fingerprint = edge_setup
    cloud = edge_dir / "cloud"
    base = make_docx(paragraphs=15, seed=8)
    new = edit_docx(base, "type", seed=1)
    newer = edit_docx(new, "paragraph", seed=2)

    edge = Serve(edge_dir, token)
    assert edge.fingerprint == fingerprint
    assert edge.session.put(edge.file("Docs/a.docx"), data=base).json()["upload"]["state"] \
        == "uploaded"
    # The cloud breaks: the local provider can no longer stage writes.
    staging = cloud / ".edgesync-local" / "tmp"
    shutil.rmtree(staging)
    staging.write_bytes(b"not a folder")
    response = edge.session.patch(edge.file("Docs/a.docx"), data=diff(base, new),
                                  headers=DELTA)
    assert response.status_code == 202, response.text  # stored, not yet in the cloud
    assert response.json()["upload"]["state"] in ("pending", "failed")
    edge.kill()  # right after the acknowledgement
    assert (cloud / "Docs" / "a.docx").read_bytes() == base

    staging.unlink()
    staging.mkdir()
    edge = Serve(edge_dir, token)
    eventually(lambda: (cloud / "Docs" / "a.docx").read_bytes() == new)
    meta = edge.session.get(f"{edge.url}/v1/meta/Docs/a.docx").json()
    assert meta["upload"]["state"] == "uploaded"
    # The edge kept the acknowledged version as the base of the next delta.
    response = edge.session.patch(edge.file("Docs/a.docx"), data=diff(new, newer),
                                  headers=DELTA)
    assert response.status_code == 200, response.text
    edge.kill()  # again right after an acknowledgement, this time uploaded
    edge = Serve(edge_dir, token)
    assert edge.session.get(edge.file("Docs/a.docx")).content == newer
    assert (cloud / "Docs" / "a.docx").read_bytes() == newer
    out = edge.stop()
    assert "stopped" in out


def test_serve_refuses_a_missing_edge_with_a_clear_message(tmp_path):
    result = cli("serve", "--dir", str(tmp_path / "nothing"))
    assert result.returncode == 3
    assert "edgesync edge init" in result.stderr and "Traceback" not in result.stderr


def test_serve_refuses_plain_http_on_the_network(edge_setup):
    edge_dir, _, _ = edge_setup
    result = cli("serve", "--dir", str(edge_dir), "--plain-http", "--listen", "0.0.0.0:0")
    assert result.returncode == 3
    assert "in clear" in result.stderr and "Traceback" not in result.stderr


def test_serve_refuses_a_provider_that_is_not_installed(edge_setup):
    edge_dir, _, _ = edge_setup
    config = edge_dir / "edge.toml"
    config.write_text(config.read_text().replace('name = "local"', 'name = "nowhere"'))
    result = cli("serve", "--dir", str(edge_dir))
    assert result.returncode == 3
    assert "no provider named 'nowhere'" in result.stderr


def test_python_m_edgesync_edge_serves_without_the_command_tree(edge_setup):
    """What images run: the same server, without click (less memory per instance)."""
    edge_dir, token, fingerprint = edge_setup
    process = subprocess.Popen([sys.executable, "-m", "edgesync.edge", "--dir", str(edge_dir),
                                "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        url, served = read_serving(process)
        assert served == fingerprint
        session = pinned_session(fingerprint)
        session.headers["Authorization"] = f"Bearer {token}"
        assert session.put(f"{url}/v1/files/a.txt", data=b"x").status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err and "stopped" in out
    loaded = subprocess.run([sys.executable, "-c", "import sys, edgesync.edge.__main__; "
                             "print('click' in sys.modules)"], capture_output=True, text=True,
                            check=True)
    assert loaded.stdout.strip() == "False"


def test_python_m_edgesync_edge_needs_a_folder(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "EDGESYNC_EDGE_DIR"}
    result = subprocess.run([sys.executable, "-m", "edgesync.edge"], capture_output=True,
                            text=True, timeout=60, env=env)
    assert result.returncode == 2 and "--dir" in result.stderr
    helped = subprocess.run([sys.executable, "-m", "edgesync.edge", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "--plain-http" in helped.stdout
