"""The layout packaged edges use: a read-only edge folder, versions elsewhere, a health probe."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from edgesync.agent import EdgeClient
from edgesync.edge import EdgeConfig, EdgeServer, TokenStore
from edgesync.edge.health import check, main
from edgesync.edge.setup import init_edge, parse_option_items
from edgesync.errors import ConfigError
from edgesync.testing.edge import free_port


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def edge_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "secret"
    init_edge(folder, listen=f"127.0.0.1:{free_port()}", provider="local",
              options={"root": str(tmp_path / "cloud")})
    return folder


def test_with_a_state_folder_the_edge_folder_is_only_read(edge_dir, tmp_path):
    token, _ = TokenStore(edge_dir / "tokens.json").add("me")
    before = _snapshot(edge_dir)
    config = EdgeConfig.load(edge_dir, state_dir=tmp_path / "state", fsync=False)
    with EdgeServer(config, log_stream=io.StringIO(), poll_interval=0.02) as server:
        client = EdgeClient(server.url, token, fingerprint=server.fingerprint, retries=0)
        content = b"kept in the state folder"
        client.put("notes.txt", content, sha256=hashlib.sha256(content).hexdigest())
    assert _snapshot(edge_dir) == before
    assert (tmp_path / "state" / "store").is_dir()
    assert (tmp_path / "cloud" / "notes.txt").read_bytes() == b"kept in the state folder"


def test_the_health_probe_answers_for_this_edge_only(edge_dir, tmp_path, capsys):
    assert "no answer from 127.0.0.1" in check(edge_dir, timeout=2)
    config = EdgeConfig.load(edge_dir, state_dir=tmp_path / "state", fsync=False)
    with EdgeServer(config, log_stream=io.StringIO(), poll_interval=0.02):
        assert check(edge_dir) is None
        assert main(["--dir", str(edge_dir)]) == 0
        # Another edge's folder naming the same port: a different certificate.
        other = tmp_path / "other"
        init_edge(other, listen=f"127.0.0.1:{config.port}", provider="local",
                  options={"root": str(tmp_path / "c2")})
        assert "not this edge" in check(other)
        assert main(["--dir", str(other)]) == 1
    assert "unhealthy: " in capsys.readouterr().err
    assert "does not exist" in check(tmp_path / "nowhere")


def test_init_edge_refuses_an_existing_edge_and_bad_settings(edge_dir, tmp_path):
    with pytest.raises(ConfigError, match="already holds an edge"):
        init_edge(edge_dir, provider="local", options={"root": "/x"})
    with pytest.raises(ConfigError, match="user name"):
        init_edge(tmp_path / "new", user="Bad User", provider="local", options={"root": "/x"})
    assert not (tmp_path / "new").exists()


def test_option_items_become_a_typed_table():
    assert parse_option_items(["root=/x", "n=4", "on=true", "neg=-2", "a=b=c"]) == {
        "root": "/x", "n": 4, "on": True, "neg": -2, "a": "b=c"}
    with pytest.raises(ConfigError, match="'novalue' is not KEY=VALUE"):
        parse_option_items(["novalue"])
