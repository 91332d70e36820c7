"""The device commands end to end: pair, push, status and watch against a real edge.

The edge runs in this process (cheroot on loopback, HTTPS, the local
provider); the commands run through click's test runner, and ``watch`` as a
real process. Each test gets its own configuration through ``EDGESYNC_CONFIG``::

    tmp_path/
      edge/ cloud/      the edge and the folder that plays the cloud
      device/           the synced folder
      config/agent.toml config/token   what 'pair' writes
      state/            shadows and outbox
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys

import pytest
from click.testing import CliRunner

from edgesync.cli import main
from edgesync.edge import EdgeServer
from edgesync.testing.documents import edit_docx, make_docx
from edgesync.testing.edge import running_edge
from edgesync.testing.waiting import eventually


@pytest.fixture
def edge(tmp_path):
    with running_edge(tmp_path / "edge", options={"root": str(tmp_path / "cloud"),
                                                  "fsync": False}) as server:
        yield server


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGESYNC_CONFIG", str(tmp_path / "config" / "agent.toml"))
    return {"EDGESYNC_CONFIG": str(tmp_path / "config" / "agent.toml")}


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def pair(edge, tmp_path, *extra: str):
    return run("pair", edge.url, "--token", edge.token, "--fingerprint", edge.fingerprint,
               "--root", str(tmp_path / "device"), "--state-dir", str(tmp_path / "state"),
               "--no-keyring", *extra)


def test_pair_records_the_edge_and_keeps_the_token_private(edge, env, tmp_path):
    result = pair(edge, tmp_path, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["fingerprint"] == edge.fingerprint and data["root"] == str(tmp_path / "device")
    config = (tmp_path / "config" / "agent.toml").read_text()
    assert edge.token not in config and edge.fingerprint in config
    token_file = tmp_path / "config" / "token"
    assert token_file.read_text().strip() == edge.token
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"


def test_pair_without_a_fingerprint_shows_it_and_asks(edge, env, tmp_path):
    refused = run("pair", edge.url, "--token", edge.token, "--root", str(tmp_path / "device"),
                  "--no-keyring", input="n\n")
    assert refused.exit_code == 3
    assert edge.fingerprint in refused.output
    assert not (tmp_path / "config" / "agent.toml").exists()
    accepted = run("pair", edge.url, "--token", edge.token, "--root", str(tmp_path / "device"),
                   "--state-dir", str(tmp_path / "state"), "--no-keyring", input="y\n")
    assert accepted.exit_code == 0, accepted.output


def test_pair_refuses_a_wrong_fingerprint_or_token(edge, env, tmp_path):
    wrong = run("pair", edge.url, "--token", edge.token, "--fingerprint", "AB" * 32,
                "--root", str(tmp_path / "device"), "--no-keyring")
    assert wrong.exit_code == 1
    assert "another certificate" in wrong.output and "pair again" in wrong.output
    bad_token = run("pair", edge.url, "--token", "esk_" + "x" * 43, "--fingerprint",
                    edge.fingerprint, "--root", str(tmp_path / "device"), "--no-keyring")
    assert bad_token.exit_code == 1 and "token" in bad_token.output
    plain = run("pair", "http://192.0.2.1:8443", "--token", "t")
    assert plain.exit_code == 3 and "in clear" in plain.output
    assert not (tmp_path / "config" / "agent.toml").exists()


def test_push_then_status(edge, env, tmp_path):
    assert pair(edge, tmp_path).exit_code == 0
    doc = tmp_path / "device" / "Reports" / "q3.docx"
    doc.parent.mkdir(parents=True)
    base = make_docx(40, seed=2)
    doc.write_bytes(base)
    first = run("push", str(doc))
    assert first.exit_code == 0 and "Reports/q3.docx: full" in first.output
    doc.write_bytes(edit_docx(base, "type", seed=1))
    second = run("push", str(doc), "--json")
    assert second.exit_code == 0
    line = json.loads(second.output)
    assert line["mode"] == "delta" and line["sent"] < line["size"] // 50
    assert line["state"] == "uploaded" and line["saving"] > 0.98
    assert (tmp_path / "cloud" / "Reports" / "q3.docx").read_bytes() == doc.read_bytes()
    status = run("status", "--json")
    data = json.loads(status.output)
    assert data["counts"] == {"synced": 1}
    assert data["bytes_saved"] == data["bytes_files"] - data["bytes_sent"] > 0
    text = run("status").output
    assert "synced" in text and "Reports/q3.docx" in text and "saved" in text


def test_push_of_a_folder_skips_lock_files(edge, env, tmp_path):
    assert pair(edge, tmp_path).exit_code == 0
    device = tmp_path / "device"
    (device / "a.txt").write_text("a")
    (device / "~$a.docx").write_text("lock")
    (device / ".~lock.b.odt#").write_text("lock")
    result = run("push", str(device))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "cloud").iterdir()
                  if not p.name.startswith(".edgesync")) == ["a.txt"]


def test_push_queues_when_the_edge_is_away_and_sends_later(edge, env, tmp_path):
    assert pair(edge, tmp_path).exit_code == 0
    note = tmp_path / "device" / "note.txt"
    note.write_text("one")
    assert run("push", str(note)).exit_code == 0
    config = (tmp_path / "config" / "agent.toml")
    url = edge.url
    edge.stop()
    note.write_text("two")
    queued = run("push", str(note))
    assert queued.exit_code == 0 and "queued" in queued.output
    assert "queued" in run("status").output
    # The edge is back (a new server on another port: re-point the configuration).
    again = EdgeServer(edge.config, log_stream=io.StringIO(), poll_interval=0.02).start()
    try:
        config.write_text(config.read_text().replace(url, again.url))
        note.write_text("three")  # a later save: the queue sends the latest content
        other = tmp_path / "device" / "other.txt"
        other.write_text("x")
        sent = run("push", str(other))
        assert sent.exit_code == 0, sent.output
        assert (tmp_path / "cloud" / "note.txt").read_text() == "three"
        assert json.loads(run("status", "--json").output)["counts"] == {"synced": 2}
    finally:
        again.stop()


def test_a_changed_certificate_is_refused_with_how_to_re_pair(edge, env, tmp_path):
    assert pair(edge, tmp_path).exit_code == 0
    config = tmp_path / "config" / "agent.toml"
    config.write_text(config.read_text().replace(edge.fingerprint, "AB:" * 31 + "AB"))
    note = tmp_path / "device" / "n.txt"
    note.write_text("x")
    result = run("push", str(note))
    assert result.exit_code == 1
    assert "another certificate" in result.output and "edgesync pair" in result.output
    assert not (tmp_path / "cloud" / "n.txt").exists()


def test_commands_before_pairing_say_to_pair(env):
    for command in (["status"], ["push", "x.txt"], ["watch"]):
        result = run(*command)
        assert result.exit_code == 3 and "edgesync pair" in result.output, command


@pytest.mark.parametrize("command", ["pair", "push", "watch", "status", "demo"])
def test_help_teaches_with_an_example(command):
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.output or command in ("status", "demo")


def test_watch_as_a_process_pushes_saves_and_stops_cleanly(edge, env, tmp_path):
    assert pair(edge, tmp_path).exit_code == 0
    device, cloud = tmp_path / "device", tmp_path / "cloud"
    (device / "early.txt").write_text("written before watch started")
    process = subprocess.Popen([sys.executable, "-m", "edgesync", "watch", "--debounce", "0.1",
                                "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, **env})
    try:
        eventually(lambda: (cloud / "early.txt").is_file())  # the start-up scan
        (device / "later.txt").write_text("saved while watching")
        (device / "~$later.docx").write_text("lock")
        eventually(lambda: (cloud / "later.txt").is_file()
                 and (cloud / "later.txt").read_text() == "saved while watching")
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert {line.get("path") for line in lines} >= {"early.txt", "later.txt"}
    assert not (cloud / "~$later.docx").exists()


def test_watch_holds_a_mass_delete_until_confirmed(edge, env, tmp_path):
    assert pair(edge, tmp_path).exit_code == 0
    device, cloud = tmp_path / "device", tmp_path / "cloud"
    for i in range(3):
        (device / f"f{i}.txt").write_text(str(i))
    assert run("push", str(device)).exit_code == 0
    for i in range(3):
        (device / f"f{i}.txt").unlink()

    def watch_once(*flags: str) -> str:
        process = subprocess.Popen([sys.executable, "-m", "edgesync", "watch",
                                    "--propagate-deletes", "--max-deletes", "2", *flags],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env={**os.environ, **{k: v for k, v in env.items()}})
        before = ""
        while not before.endswith("(Ctrl-C to stop)\n"):  # start-up deletes are decided
            line = process.stdout.readline()
            assert line, before + process.stderr.read()
            before += line
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        return before + out + err

    held = watch_once()
    assert "more than 2 at once" in held and "--confirm-deletes" in held
    assert sorted(p.name for p in cloud.glob("f*.txt")) == ["f0.txt", "f1.txt", "f2.txt"]
    confirmed = watch_once("--confirm-deletes")
    assert "deleted" in confirmed
    assert list(cloud.glob("f*.txt")) == []


def test_demo_runs_the_whole_sync(monkeypatch):
    result = run("demo")
    assert result.exit_code == 0, result.output
    assert "All 5 cloud files match the device" in result.output
    assert "(type)" in result.output and "delta" in result.output
