"""Device agent -> edge (real HTTPS server on loopback) -> this plugin -> the Dropbox emulator.

The edge loads the plugin by its entry point, exactly as ``edgesync serve``
would, and reaches the emulator through its ``emulator`` option; the agent
pushes real office documents as deltas. Between two saves "another device"
changes the file in Dropbox, and that change is never overwritten.
"""

from __future__ import annotations

import json

import pytest

from edgesync.agent import Agent, EdgeClient
from edgesync.edge import RetryPolicy
from edgesync.plugins import PluginHost
from edgesync.testing.documents import edit_docx, make_docx
from edgesync.testing.edge import running_edge
from edgesync.testing.waiting import eventually


@pytest.fixture
def edge(emulator, tmp_path):
    token_file = tmp_path / "dropbox.json"
    token_file.write_text(json.dumps({"app_key": emulator.app_key,
                                      "refresh_token": emulator.link_account()}))
    host = PluginHost(environ={"EDGESYNC_LOAD_PLUGINS": "edgesync-dropbox"}).load()
    assert host.distributions["dropbox"].startswith("edgesync-dropbox")
    policy = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.05, background_max_delay=0.2)
    options = {"app_key": emulator.app_key, "token_file": str(token_file), "root": "/Edge",
               "emulator": emulator.url}
    with running_edge(tmp_path / "edge", provider="dropbox", options=options, host=host,
                      policy=policy) as server:
        yield server


@pytest.fixture
def agent(edge, tmp_path):
    (tmp_path / "device").mkdir()
    return Agent(tmp_path / "device", tmp_path / "state",
                 EdgeClient(edge.url, edge.token, fingerprint=edge.fingerprint, retries=1))


def test_saves_reach_dropbox_as_deltas_and_a_change_elsewhere_is_kept(emulator, agent,
                                                                        tmp_path):
    doc = tmp_path / "device" / "Reports" / "q3.docx"
    doc.parent.mkdir()
    base = make_docx(60, seed=4)
    doc.write_bytes(base)
    first = agent.push(doc)
    assert (first.mode, first.state) == ("full", "uploaded")
    assert emulator.file("/Edge/Reports/q3.docx") == base

    edited = edit_docx(base, "type", seed=1)
    doc.write_bytes(edited)
    second = agent.push(doc)
    assert (second.mode, second.state) == ("delta", "uploaded")
    assert second.sent < len(edited) // 100
    assert emulator.file("/Edge/Reports/q3.docx") == edited

    # Another device saves the file in Dropbox itself.
    theirs = edit_docx(edited, "paragraph", seed=9)
    emulator.put_file("/Edge/Reports/q3.docx", theirs)
    mine = edit_docx(edited, "type", seed=2)
    doc.write_bytes(mine)
    third = agent.push(doc)
    assert third.mode == "delta" and third.state == "conflict"
    assert emulator.file("/Edge/Reports/q3.docx") == theirs  # never overwritten
    assert emulator.file("/Edge/" + third.conflict_path) == mine
    (status,) = agent.status()
    assert status.state == "conflict" and status.conflict_path == third.conflict_path
    modes = [r.arg["mode"][".tag"] for r in emulator.journal if r.route == "files/upload"]
    assert modes == ["add", "update", "update", "add"]  # never "overwrite"


def test_the_cloud_down_then_back(emulator, agent, tmp_path, sleeps):
    from edgesync_dropbox.testing import server_error

    note = tmp_path / "device" / "note.txt"
    note.write_text("first")
    agent.push(note)
    rule = emulator.inject("files/upload", server_error(503), times=None)  # SDK sleeps recorded
    note.write_text("second")
    result = agent.push(note)
    assert result.state == "pending"  # stored at the edge, not yet in Dropbox
    assert emulator.file("/Edge/note.txt") == b"first"
    rule.cancel()  # Dropbox is back
    eventually(lambda: emulator.file("/Edge/note.txt") == b"second",
               what="the background upload once the cloud is back")


def test_demo_with_the_dropbox_provider():
    from edgesync.demo import main

    assert main(["--provider", "dropbox"]) == 0
