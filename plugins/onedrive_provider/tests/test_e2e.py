"""Device agent -> edge (real HTTPS server on loopback) -> this plugin -> the Graph emulator.

The edge loads the plugin by its entry point, exactly as ``edgesync serve``
would, signs in with MSAL from the token cache and reaches the emulator
through its ``emulator`` option; the agent pushes real office documents as
deltas, and "another device" changes a file in OneDrive between two saves.
"""

from __future__ import annotations

import pytest
from edgesync_onedrive.auth import sign_in
from edgesync_onedrive.testing import server_error

from edgesync.agent import Agent, EdgeClient
from edgesync.edge import RetryPolicy
from edgesync.plugins import PluginHost
from edgesync.testing.documents import edit_docx, make_docx
from edgesync.testing.edge import running_edge
from edgesync.testing.waiting import eventually


@pytest.fixture
def edge(emulator, tmp_path):
    cache = tmp_path / "onedrive.json"
    sign_in(emulator.client_id, cache, session=emulator.session(), say=lambda text: None)
    host = PluginHost(environ={"EDGESYNC_LOAD_PLUGINS": "edgesync-onedrive"}).load()
    policy = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.05, background_max_delay=0.2)
    options = {"client_id": emulator.client_id, "token_cache": str(cache), "root": "Edge",
               "emulator": emulator.url}
    with running_edge(tmp_path / "edge", provider="onedrive", options=options, host=host,
                      policy=policy) as server:
        yield server


@pytest.fixture
def agent(edge, tmp_path):
    (tmp_path / "device").mkdir()
    return Agent(tmp_path / "device", tmp_path / "state",
                 EdgeClient(edge.url, edge.token, fingerprint=edge.fingerprint, retries=1))


def test_saves_reach_onedrive_as_deltas_and_a_change_elsewhere_is_kept(emulator, agent,
                                                                         tmp_path):
    doc = tmp_path / "device" / "Reports" / "q3.docx"
    doc.parent.mkdir()
    base = make_docx(60, seed=5)
    doc.write_bytes(base)
    assert (agent.push(doc).mode, emulator.file("Edge/Reports/q3.docx")) == ("full", base)

    edited = edit_docx(base, "type", seed=1)
    doc.write_bytes(edited)
    second = agent.push(doc)
    assert (second.mode, second.state) == ("delta", "uploaded")
    assert second.sent < len(edited) // 100
    assert emulator.file("Edge/Reports/q3.docx") == edited

    theirs = edit_docx(edited, "paragraph", seed=9)
    emulator.put_file("Edge/Reports/q3.docx", theirs)  # another device, in OneDrive
    mine = edit_docx(edited, "type", seed=2)
    doc.write_bytes(mine)
    third = agent.push(doc)
    assert third.mode == "delta" and third.state == "conflict"
    assert emulator.file("Edge/Reports/q3.docx") == theirs
    assert emulator.file("Edge/" + third.conflict_path) == mine
    (status,) = agent.status()
    assert status.state == "conflict" and status.conflict_path == third.conflict_path


def test_onedrive_down_then_back(emulator, agent, tmp_path):
    note = tmp_path / "device" / "note.txt"
    note.write_text("first")
    agent.push(note)
    rule = emulator.inject("content", server_error(503), times=None)
    note.write_text("second")
    assert agent.push(note).state == "pending"
    rule.cancel()
    eventually(lambda: emulator.file("Edge/note.txt") == b"second",
               what="the background upload once the cloud is back")


def test_demo_with_the_onedrive_provider():
    from edgesync.demo import main

    assert main(["--provider", "onedrive"]) == 0
