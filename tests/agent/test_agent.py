"""The agent without a watcher, on a real edge: push modes, paths, status, counters, outbox."""

from __future__ import annotations

import gzip
import json
import os
import random

import pytest

from edgesync.agent import Agent, PushResult
from edgesync.errors import ConfigError, InvalidPathError, NotFoundError


def prose(seed: int, words: int = 8000) -> bytes:
    """Compressible text: words from a small vocabulary, in lines."""
    rng = random.Random(seed)
    vocabulary = ["edge", "delta", "cloud", "device", "report", "quarter", "sync", "file",
                  "version", "upload", "the", "a", "of", "and", "to", "in"]
    out = []
    for n in range(words):
        out.append(rng.choice(vocabulary))
        out.append("\n" if n % 12 == 11 else " ")
    return "".join(out).encode()


@pytest.fixture
def device(tmp_path):
    return tmp_path / "device"


# --- push modes ------------------------------------------------------------------------------


def test_a_new_file_goes_whole_and_gzipped(edge, device, agent):
    data = prose(1)
    (device / "new.txt").write_bytes(data)
    result = agent.push(device / "new.txt")
    assert (result.path, result.mode, result.state, result.size) == ("new.txt", "full",
                                                                     "uploaded", len(data))
    # gzip on the wire: a fraction of the file, and what gzip makes of it
    assert result.sent < len(data) // 2
    assert result.sent == len(gzip.compress(data, 6, mtime=0))
    assert result.saving > 0.5
    assert edge.cloud_files() == {"new.txt": data}


def test_an_incompressible_new_file_goes_as_it_is(edge, device, agent):
    data = random.Random(2).randbytes(20_000)
    (device / "photo.jpg").write_bytes(data)
    result = agent.push(device / "photo.jpg")
    assert (result.mode, result.sent, result.size) == ("full", len(data), len(data))
    assert edge.cloud_files() == {"photo.jpg": data}


def test_an_edit_goes_as_a_small_delta(edge, device, agent):
    data = prose(3)
    (device / "doc.txt").write_bytes(data)
    agent.push(device / "doc.txt")
    edited = data[:20_000] + b"an inserted sentence about the edge\n" + data[20_000:]
    (device / "doc.txt").write_bytes(edited)
    result = agent.push(device / "doc.txt")
    assert (result.mode, result.state, result.size) == ("delta", "uploaded", len(edited))
    assert result.sent < len(edited) // 20
    assert edge.cloud_files() == {"doc.txt": edited}


def test_an_unchanged_file_sends_nothing(edge, device, agent):
    (device / "same.txt").write_bytes(prose(4))
    first = agent.push(device / "same.txt")
    again = agent.push(device / "same.txt")
    assert (again.mode, again.sent, again.state) == ("unchanged", 0, "uploaded")
    assert again.sha256 == first.sha256
    log = [json.loads(line) for line in edge.log.getvalue().splitlines()]
    assert [entry["method"] for entry in log] == ["PUT"]  # the edge was not asked again


def test_a_rewrite_with_nothing_in_common_goes_whole(edge, device, agent):
    (device / "notes.txt").write_bytes(prose(5))
    agent.push(device / "notes.txt")
    noise = random.Random(5).randbytes(30_000)  # a delta could not be smaller than this
    (device / "notes.txt").write_bytes(noise)
    result = agent.push(device / "notes.txt")
    assert (result.mode, result.sent, result.state) == ("full", len(noise), "uploaded")
    assert edge.cloud_files() == {"notes.txt": noise}
    log = [json.loads(line) for line in edge.log.getvalue().splitlines()]
    assert [entry["method"] for entry in log] == ["PUT", "PUT"]  # no delta was tried


def test_a_delete_removes_the_file_at_the_edge_and_in_the_cloud(edge, device, agent):
    for name in ("a.txt", "b.txt"):
        (device / name).write_bytes(name.encode())
        agent.push(device / name)
    os.unlink(device / "a.txt")
    result = agent.delete(device / "a.txt")
    assert (result.path, result.mode) == ("a.txt", "deleted")
    assert edge.cloud_files() == {"b.txt": b"b.txt"}
    assert [s.path for s in agent.status()] == ["b.txt"]


# --- paths -------------------------------------------------------------------------------------


def test_relpath_names_files_under_the_root(device, agent):
    (device / "Reports" / "2026").mkdir(parents=True)
    assert agent.relpath(device / "Reports" / "2026" / "q3.docx") == "Reports/2026/q3.docx"
    assert agent.relpath(str(device / "a.txt")) == "a.txt"
    assert agent.relpath(device / "Reports" / ".." / "a.txt") == "a.txt"


@pytest.mark.parametrize("outside", ["elsewhere/a.txt", "device-2/a.txt", "device/../a.txt"])
def test_a_file_outside_the_root_is_refused(edge, tmp_path, agent, outside):
    path = tmp_path / outside
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not synced")
    with pytest.raises(InvalidPathError, match="is not inside the synced folder"):
        agent.relpath(path)
    with pytest.raises(InvalidPathError, match="is not inside the synced folder"):
        agent.push(path)
    assert edge.cloud_files() == {} and len(agent.outbox) == 0


def test_a_missing_file_is_not_found(edge, device, agent):
    with pytest.raises(NotFoundError, match="is not a file"):
        agent.push(device / "missing.txt")
    (device / "folder").mkdir()
    with pytest.raises(NotFoundError, match="is not a file"):
        agent.push(device / "folder")
    assert edge.cloud_files() == {} and agent.status() == [] and len(agent.outbox) == 0


# --- status and counters ---------------------------------------------------------------------


def test_status_lists_every_file_the_agent_knows(edge, device, agent):
    for name, data in (("b.txt", b"bee"), ("a.txt", b"a"), ("sub/c.txt", b"sea!")):
        (device / name).parent.mkdir(exist_ok=True)
        (device / name).write_bytes(data)
        agent.push(device / name)
    edge.stop()
    (device / "d.txt").write_bytes(b"offline")
    agent.push(device / "d.txt")
    (device / "a.txt").write_bytes(b"a, edited offline")
    agent.push(device / "a.txt")
    assert [(s.path, s.state, s.size) for s in agent.status()] == [
        ("a.txt", "queued", 1), ("b.txt", "synced", 3), ("d.txt", "queued", 0),
        ("sub/c.txt", "synced", 4)]
    assert all(s.error and "cannot reach the edge" in s.error
               for s in agent.status() if s.state == "queued")


def test_stats_count_what_was_sent(edge, device, agent, tmp_path):
    results: list[PushResult] = []
    data = prose(6)
    (device / "doc.txt").write_bytes(data)
    results.append(agent.push(device / "doc.txt"))
    (device / "doc.txt").write_bytes(data + b"one more line\n")
    results.append(agent.push(device / "doc.txt"))
    results.append(agent.push(device / "doc.txt"))  # unchanged: not counted
    (device / "x.bin").write_bytes(b"\x00" * 5000)
    results.append(agent.push(device / "x.bin"))
    assert [r.mode for r in results] == ["full", "delta", "unchanged", "full"]
    sent = [r for r in results if r.mode != "unchanged"]
    expected = {"pushes": 3, "bytes_sent": sum(r.sent for r in sent),
                "bytes_files": sum(r.size for r in sent)}
    assert agent.stats == expected
    assert json.loads((tmp_path / "state" / "stats.json").read_text()) == expected
    restarted = Agent(root=device, state_dir=tmp_path / "state", client=edge.client())
    assert restarted.stats == expected


# --- the outbox --------------------------------------------------------------------------------


def test_the_outbox_is_a_json_file_that_survives_a_restart(edge, device, agent, tmp_path):
    (device / "a.txt").write_bytes(b"synced")
    agent.push(device / "a.txt")
    edge.stop()
    (device / "a.txt").write_bytes(b"edited offline")
    result = agent.push(device / "a.txt")
    assert (result.mode, result.state, result.sent) == ("queued", "queued", 0)
    assert "cannot reach the edge" in result.error
    on_disk = json.loads((tmp_path / "state" / "outbox.json").read_text("utf-8"))
    assert list(on_disk) == ["a.txt"] and on_disk["a.txt"]["op"] == "push"

    os.unlink(device / "a.txt")
    assert agent.delete(device / "a.txt").mode == "queued"  # replaces the queued save
    restarted = Agent(root=device, state_dir=tmp_path / "state", client=edge.client())
    assert {rel: item["op"] for rel, item in restarted.outbox.items().items()} == {
        "a.txt": "delete"}


def test_deleting_a_file_that_never_reached_the_edge_forgets_its_queued_save(edge, device,
                                                                             agent):
    edge.stop()
    (device / "draft.txt").write_bytes(b"offline draft")
    assert agent.push(device / "draft.txt").mode == "queued"
    os.unlink(device / "draft.txt")
    assert agent.delete(device / "draft.txt").mode == "deleted"  # nothing to tell the edge
    assert len(agent.outbox) == 0 and agent.status() == []


def test_draining_sends_the_latest_content_once(edge, device, agent):
    (device / "a.txt").write_bytes(prose(7))
    agent.push(device / "a.txt")
    edge.stop()
    for n in range(3):
        (device / "a.txt").write_bytes(prose(7) + b"offline edit %d\n" % n)
        assert agent.push(device / "a.txt").mode == "queued"
    (device / "b.txt").write_bytes(b"gone before the edge came back")
    agent.push(device / "b.txt")
    os.unlink(device / "b.txt")
    assert agent.drain()[-1].mode == "queued"  # still away: stops at once, keeps all
    assert set(agent.outbox.items()) == {"a.txt", "b.txt"}

    edge.start()
    results = agent.drain()
    assert [(r.path, r.mode) for r in results] == [("a.txt", "delta")]
    assert edge.cloud_files() == {"a.txt": prose(7) + b"offline edit 2\n"}
    assert len(agent.outbox) == 0 and agent.drain() == []


def test_a_delete_made_offline_is_sent_later(edge, device, agent):
    (device / "a.txt").write_bytes(b"to be deleted")
    agent.push(device / "a.txt")
    edge.stop()
    os.unlink(device / "a.txt")
    assert agent.delete(device / "a.txt").mode == "queued"
    assert edge.cloud_files() == {"a.txt": b"to be deleted"}
    edge.start()
    assert [(r.path, r.mode) for r in agent.drain()] == [("a.txt", "deleted")]
    assert edge.cloud_files() == {} and agent.status() == []


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b""])
def test_a_corrupt_outbox_is_a_clear_error_and_is_kept(edge, device, tmp_path, content):
    state = tmp_path / "state"
    state.mkdir()
    (state / "outbox.json").write_bytes(content)
    with pytest.raises(ConfigError, match="outbox .* cannot be read .* move it away"):
        Agent(root=device, state_dir=state, client=edge.client())
    assert (state / "outbox.json").read_bytes() == content  # nothing overwritten


def test_a_tiny_file_goes_whole_when_a_delta_would_not_be_smaller(agent, device):
    """A delta carries a 69-byte header: for a 30-byte file the whole file is cheaper."""
    note = device / "tiny.txt"
    note.write_bytes(b"hello dropbox via serve")
    assert agent.push(note).mode == "full"
    note.write_bytes(b"hello dropbox via serve, edited")
    result = agent.push(note)
    assert result.mode == "full" and result.sent <= result.size
