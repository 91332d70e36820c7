"""``edgesync watch`` end to end: a real watcher on a temporary folder, a real edge on loopback.

Every test changes files in ``tmp_path/"device"`` and waits (polling, with a
deadline) for their effect in ``tmp_path/"cloud"``. "Nothing happened" is
shown by a later change that did happen: the watcher handles events in
order, so once a sentinel file written afterwards is in the cloud, an
ignored file or an unpropagated delete would have shown by then.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from edgesync.agent import Agent, PushResult, Watcher
from edgesync.agent.watch import IGNORED, is_ignored
from edgesync.errors import ConfigError
from edgesync.testing.waiting import eventually as _eventually

# watchdog 7 warns from its inotify thread when folders made in quick succession
# (mkdir -p) race to be watched twice; harmless, but warnings are errors here, and
# an error there would end the thread and with it all watching.
pytestmark = pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")

#: How long a test waits for something that should happen within a second or two.
PATIENCE = 30.0


def eventually(check: Callable[[], Any], *, timeout: float = PATIENCE,
               what: str = "the condition") -> Any:
    """:func:`edgesync.testing.waiting.eventually`, with this module's patience."""
    return _eventually(check, timeout=timeout, what=what)


@attrs.define
class Watching:
    """A started watcher and what it reported."""

    watcher: Watcher
    results: list[PushResult] = attrs.Factory(list)
    notices: list[str] = attrs.Factory(list)

    def pushes(self, rel: str) -> list[PushResult]:
        """What was sent for ``rel`` (not 'unchanged', not 'queued')."""
        return [r for r in self.results if r.path == rel and r.mode in ("full", "delta")]

    def idle(self) -> None:
        assert self.watcher.wait_idle(PATIENCE), "the watcher did not settle"


@pytest.fixture
def watch(agent) -> Iterator[Callable[..., Watching]]:
    """Start a watcher on ``agent`` (debounce 0.2 s, outbox drained every 0.2 s)."""
    started: list[Watcher] = []

    def start(**options) -> Watching:
        options.setdefault("debounce", 0.2)
        options.setdefault("drain_interval", 0.2)
        results: list[PushResult] = []
        notices: list[str] = []
        watcher = Watcher(agent, on_result=results.append, on_notice=notices.append,
                          **options)
        started.append(watcher.start())
        watching = Watching(watcher, results, notices)
        watching.idle()  # the initial scan is done
        return watching

    yield start
    for watcher in started:
        watcher.stop()


@pytest.fixture
def device(tmp_path) -> Path:
    return tmp_path / "device"


def text(label: str, lines: int = 400) -> bytes:
    """A text document: ``lines`` numbered lines, different per label."""
    return "".join(f"{label}: line {n} of a document that is edited a little\n"
                   for n in range(lines)).encode()


def in_cloud(edge, rel: str, content: bytes) -> Callable[[], bool]:
    return lambda: edge.cloud_files().get(rel) == content


# --- saves ---------------------------------------------------------------------------------


def test_a_new_file_and_then_an_edit_reach_the_cloud(edge, device, watch):
    w = watch()
    first = text("first")
    (device / "report.txt").write_bytes(first)
    eventually(in_cloud(edge, "report.txt", first), what="the new file in the cloud")

    edited = first.replace(b"line 7 ", b"line seven ")
    (device / "report.txt").write_bytes(edited)
    eventually(in_cloud(edge, "report.txt", edited), what="the edit in the cloud")
    w.idle()
    assert [r.mode for r in w.pushes("report.txt")] == ["full", "delta"]
    assert w.pushes("report.txt")[-1].sent < len(edited) // 10
    assert w.notices == []


def test_a_file_in_a_new_folder_reaches_the_cloud(edge, device, watch):
    watch()
    (device / "Reports" / "2026").mkdir(parents=True)
    (device / "Reports" / "2026" / "q3.txt").write_bytes(b"third quarter")
    eventually(in_cloud(edge, "Reports/2026/q3.txt", b"third quarter"))


def test_the_first_scan_pushes_what_changed_while_nobody_watched(edge, device, agent, watch):
    (device / "old.txt").write_bytes(b"synced before")
    agent.push(device / "old.txt")
    (device / "old.txt").write_bytes(b"edited while the watcher was not running")
    (device / "new.txt").write_bytes(b"made while the watcher was not running")
    (device / "same.txt").write_bytes(b"unchanged")
    agent.push(device / "same.txt")

    w = watch()  # returns once the scan is done
    assert edge.cloud_files() == {"new.txt": b"made while the watcher was not running",
                                  "old.txt": b"edited while the watcher was not running",
                                  "same.txt": b"unchanged"}
    assert {r.path: r.mode for r in w.results} == {"new.txt": "full", "old.txt": "full",
                                                   "same.txt": "unchanged"}


def test_a_burst_of_writes_becomes_few_pushes(edge, device, watch):
    w = watch(debounce=0.3)
    path = device / "busy.txt"
    versions = [text(f"version {n}", lines=50) for n in range(20)]
    for version in versions:  # no pauses: one burst
        path.write_bytes(version)
    eventually(in_cloud(edge, "busy.txt", versions[-1]), what="the last write in the cloud")
    w.idle()
    pushes = w.pushes("busy.txt")
    assert 1 <= len(pushes) <= 3, [r.sha256[:8] for r in pushes]
    assert edge.cloud_files()["busy.txt"] == versions[-1]


def test_writes_closer_together_than_the_debounce_are_one_push(edge, device, watch):
    # The gaps let each write's events arrive before the next write, so only the
    # quiet interval (not the coalescing of queued events) keeps this to one push.
    # A gap 60 times shorter than the debounce leaves room for a stalled machine.
    w = watch(debounce=3.0)
    path = device / "slow.txt"
    versions = [text(f"slow {n}", lines=50) for n in range(10)]
    for version in versions:
        path.write_bytes(version)
        time.sleep(0.05)
    eventually(in_cloud(edge, "slow.txt", versions[-1]), what="the last write in the cloud")
    w.idle()
    assert 1 <= len(w.pushes("slow.txt")) <= 3


# --- what is never synced ------------------------------------------------------------------

JUNK = ["~$report.docx", ".~lock.report.odt#", "x.tmp", ".notes.txt.swp", "notes.txt~", "4913",
        ".git/config", ".git/objects/ab/cdef0123"]


def test_lock_temporary_and_swap_files_never_reach_the_cloud(edge, device, watch):
    w = watch()
    for rel in JUNK:
        (device / rel).parent.mkdir(parents=True, exist_ok=True)
        (device / rel).write_bytes(b"junk " + rel.encode())
    (device / "after.txt").write_bytes(b"written after the junk")
    eventually(in_cloud(edge, "after.txt", b"written after the junk"))
    w.idle()
    assert edge.cloud_files() == {"after.txt": b"written after the junk"}
    assert {r.path for r in w.results} == {"after.txt"}


def test_the_first_scan_skips_ignored_files(edge, device, watch):
    for rel in JUNK:
        (device / rel).parent.mkdir(parents=True, exist_ok=True)
        (device / rel).write_bytes(b"junk")
    (device / "real.txt").write_bytes(b"real")
    w = watch()
    assert edge.cloud_files() == {"real.txt": b"real"}
    assert {r.path for r in w.results} == {"real.txt"}


@pytest.mark.parametrize(("rel", "ignored"), [
    ("~$report.docx", True),            # Word's owner file
    ("Reports/~$q3.xlsx", True),
    (".~lock.report.odt#", True),       # LibreOffice's lock
    ("~WRL0001.tmp", True),             # Word saving
    ("~WRD0000.TMP", True),             # case does not matter
    ("lu12345abc.tmp", True),           # LibreOffice saving
    ("report.docx.temp", True),
    ("setup.exe.crdownload", True),
    ("video.mp4.part", True),
    (".notes.txt.swp", True),           # Vim
    (".notes.txt.swo", True),
    (".notes.txt.swx", True),
    ("notes.txt~", True),               # Emacs, Vim backups
    (".#notes.txt", True),              # Emacs lock
    ("#notes.txt#", True),              # Emacs auto-save
    ("4913", True),                     # Vim's write test
    ("docs/4913", True),
    ("notes.txt.kate-swp", True),
    (".DS_Store", True),
    ("Photos/Thumbs.db", True),
    ("desktop.ini", True),
    (".directory", True),
    (".git/config", True),
    ("project/.git/objects/ab/cd", True),
    (".git", True),                     # a worktree's .git file
    (".hg/store/data", True),
    (".svn/wc.db", True),
    (".edgesync/state.json", True),
    (".edgesync-local/partial/x", True),
    ("a\\.git\\config", True),
    ("report.docx", False),
    ("notes.txt", False),
    ("Reports/2026/q3.xlsx", False),
    (".gitignore", False),
    (".github/workflows/ci.yml", False),
    ("tmp/notes.txt", False),
    ("template.txt", False),
    ("49130", False),
    ("swp.txt", False),
    ("a~b.txt", False),
    ("$report.docx", False),
    ("lock.report.odt", False),
    ("partial.txt", False),
    ("my.edgesync.txt", False),
])
def test_is_ignored(rel, ignored):
    assert is_ignored(rel) is ignored


def test_ignored_patterns_are_documented_and_unique():
    assert len(set(IGNORED)) == len(IGNORED)
    for pattern in ("~$*", ".~lock.*#", "*.tmp", ".*.swp", "4913", ".git", ".edgesync*"):
        assert pattern in IGNORED


# --- atomic saves ---------------------------------------------------------------------------


def test_an_atomic_save_by_rename_pushes_the_document(edge, device, watch):
    (device / "doc.txt").write_bytes(text("old"))
    w = watch(propagate_deletes=True)
    assert edge.cloud_files() == {"doc.txt": text("old")}

    new = text("old").replace(b"line 3 ", b"line three ")
    (device / "doc.txt.tmp").write_bytes(new)
    os.replace(device / "doc.txt.tmp", device / "doc.txt")
    eventually(in_cloud(edge, "doc.txt", new), what="the renamed save in the cloud")
    w.idle()
    assert edge.cloud_files() == {"doc.txt": new}
    assert all(r.mode != "deleted" for r in w.results)
    assert w.pushes("doc.txt")[-1].mode == "delta"


def test_a_save_that_renames_the_old_version_away_keeps_the_document(edge, device, watch):
    # Vim without 'backupcopy': the old file becomes the backup, a new one is written.
    (device / "notes.txt").write_bytes(text("notes"))
    w = watch(propagate_deletes=True)
    new = text("notes") + b"one more line\n"
    os.rename(device / "notes.txt", device / "notes.txt~")
    (device / "notes.txt").write_bytes(new)
    os.unlink(device / "notes.txt~")
    eventually(in_cloud(edge, "notes.txt", new))
    w.idle()
    assert edge.cloud_files() == {"notes.txt": new}
    assert all(r.mode != "deleted" for r in w.results)


def test_a_file_renamed_to_a_new_name_is_pushed_under_it(edge, device, watch):
    (device / "draft.txt").write_bytes(b"the draft")
    w = watch(propagate_deletes=True)
    os.rename(device / "draft.txt", device / "final.txt")
    eventually(lambda: edge.cloud_files() == {"final.txt": b"the draft"},
               what="the rename in the cloud")
    w.idle()
    assert [r.mode for r in w.results if r.path == "draft.txt"] == ["full", "deleted"]


# --- deletes ---------------------------------------------------------------------------------


def test_deletes_are_not_propagated_by_default(edge, device, watch):
    (device / "keep.txt").write_bytes(b"keep me")
    w = watch()
    os.unlink(device / "keep.txt")
    (device / "after.txt").write_bytes(b"after the delete")
    eventually(in_cloud(edge, "after.txt", b"after the delete"))
    w.idle()
    assert edge.cloud_files() == {"keep.txt": b"keep me", "after.txt": b"after the delete"}
    assert all(r.mode != "deleted" for r in w.results)


def test_deletes_are_propagated_when_enabled(edge, device, agent, watch):
    (device / "gone.txt").write_bytes(b"delete me")
    (device / "stays.txt").write_bytes(b"keep me")
    w = watch(propagate_deletes=True)
    os.unlink(device / "gone.txt")
    eventually(lambda: "gone.txt" not in edge.cloud_files(), what="the delete in the cloud")
    w.idle()
    assert edge.cloud_files() == {"stays.txt": b"keep me"}
    assert [r.mode for r in w.results if r.path == "gone.txt"] == ["full", "deleted"]
    assert [s.path for s in agent.status()] == ["stays.txt"]


def test_a_deleted_folder_deletes_its_files(edge, device, watch):
    for rel in ("old/a.txt", "old/sub/b.txt", "moved/c.txt", "stays.txt"):
        (device / rel).parent.mkdir(parents=True, exist_ok=True)
        (device / rel).write_bytes(rel.encode())
    w = watch(propagate_deletes=True)
    assert len(edge.cloud_files()) == 4
    shutil.rmtree(device / "old")
    # Moved out of the synced folder: the system reports only the folder itself.
    shutil.move(device / "moved", device.parent / "outside")
    eventually(lambda: edge.cloud_files() == {"stays.txt": b"stays.txt"},
               what="the folders' files deleted in the cloud")
    w.idle()
    assert w.notices == []


def test_a_mass_delete_is_held_until_confirmed(edge, device, agent, watch):
    names = [f"file{n}.txt" for n in range(8)]
    for name in names + ["keeper.txt"]:
        (device / name).write_bytes(name.encode())
    w = watch(propagate_deletes=True, max_deletes=5, debounce=0.3)
    for name in names:
        os.unlink(device / name)
    eventually(lambda: w.watcher.held_deletes == names, what="the deletes held")
    w.idle()
    assert len(w.notices) == 1
    assert w.notices[0].startswith("held 8 deletes (more than 5 at once)")
    assert "--confirm-deletes" in w.notices[0]
    assert len(edge.cloud_files()) == 9  # nothing deleted in the cloud
    assert all(r.mode != "deleted" for r in w.results)

    (device / "file3.txt").write_bytes(b"made again")  # reappeared: not to be deleted
    results = w.watcher.confirm_deletes()
    assert sorted(r.path for r in results) == [n for n in names if n != "file3.txt"]
    assert {r.mode for r in results} == {"deleted"}
    assert w.watcher.held_deletes == []
    eventually(lambda: edge.cloud_files() == {"keeper.txt": b"keeper.txt",
                                              "file3.txt": b"made again"})
    assert [s.path for s in agent.status()] == ["file3.txt", "keeper.txt"]


def test_a_few_deletes_are_sent_without_confirmation(edge, device, watch):
    for n in range(5):
        (device / f"f{n}.txt").write_bytes(b"x%d" % n)
    w = watch(propagate_deletes=True, max_deletes=5)
    for n in range(5):
        os.unlink(device / f"f{n}.txt")
    eventually(lambda: edge.cloud_files() == {}, what="five deletes in the cloud")
    w.idle()
    assert w.watcher.held_deletes == [] and w.notices == []


# --- offline ---------------------------------------------------------------------------------


def test_saves_made_offline_go_out_when_the_edge_is_back(edge, device, agent, watch):
    w = watch()
    edge.stop()
    path = device / "offline.txt"
    path.write_bytes(b"first offline version")
    eventually(lambda: [r for r in w.results if r.mode == "queued"], what="the save queued")
    assert set(agent.outbox.items()) == {"offline.txt"}
    assert [(s.path, s.state) for s in agent.status()] == [("offline.txt", "queued")]

    path.write_bytes(b"second offline version, the one that counts")
    eventually(lambda: len([r for r in w.results if r.mode == "queued"]) == 2,
               what="the second save queued")
    assert set(agent.outbox.items()) == {"offline.txt"}  # coalesced: one entry
    assert edge.cloud_files() == {}

    edge.start()  # on the same port
    eventually(in_cloud(edge, "offline.txt", b"second offline version, the one that counts"),
               what="the queued save sent by the drain loop")
    w.idle()
    eventually(lambda: len(agent.outbox) == 0)
    assert [(s.path, s.state) for s in agent.status()] == [("offline.txt", "synced")]
    offline = [n for n in w.notices if n.startswith(f"cannot reach the edge at {edge.url}")]
    assert len(offline) == 1, w.notices  # said once, not at every look at the outbox
    assert offline[0].endswith("1 change(s) wait in the outbox and go out when it is back")


def test_killing_the_agent_loses_nothing_queued(edge, device, agent, tmp_path):
    edge.stop()
    (device / "queued.txt").write_bytes(b"saved while offline")
    assert agent.push(device / "queued.txt").mode == "queued"
    del agent  # as if killed: nothing is flushed on the way out

    restarted = Agent(root=device, state_dir=tmp_path / "state", client=edge.client())
    assert set(restarted.outbox.items()) == {"queued.txt"}
    assert [(s.path, s.state) for s in restarted.status()] == [("queued.txt", "queued")]

    (device / "queued.txt").write_bytes(b"saved again after the restart")
    edge.start()
    results = restarted.drain()
    assert [(r.path, r.mode) for r in results] == [("queued.txt", "full")]
    assert edge.cloud_files() == {"queued.txt": b"saved again after the restart"}
    assert len(restarted.outbox) == 0


AGENT_SCRIPT = """
import sys, time
from pathlib import Path
from edgesync.agent import Agent, EdgeClient

root, state, url, token, fingerprint = sys.argv[1:]
client = EdgeClient(url, token, fingerprint=fingerprint, timeout=10, retries=1,
                    sleep=lambda s: None)
agent = Agent(root=Path(root), state_dir=Path(state), client=client)
print(agent.push(Path(root) / "killed.txt").mode, flush=True)
time.sleep(600)
"""


def test_a_killed_agent_process_loses_nothing_queued(edge, device, tmp_path):
    device.mkdir()
    import signal
    import subprocess
    import sys

    edge.stop()
    (device / "killed.txt").write_bytes(b"queued by a process that was then killed")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    process = subprocess.Popen(
        [sys.executable, "-c", AGENT_SCRIPT, str(device), str(tmp_path / "state"), edge.url,
         edge.token, edge.fingerprint], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout.readline().strip() == "queued"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(PATIENCE)
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL

    agent = Agent(root=device, state_dir=tmp_path / "state", client=edge.client())
    assert set(agent.outbox.items()) == {"killed.txt"}
    edge.start()
    assert [r.mode for r in agent.drain()] == ["full"]
    assert edge.cloud_files() == {"killed.txt": b"queued by a process that was then killed"}


# --- another device, the cloud changed elsewhere -----------------------------------------------


def test_a_delta_refused_with_409_falls_back_to_the_whole_file(edge, device, make_agent,
                                                               tmp_path, watch):
    """Another device saved since: the delta is refused, the whole file goes as a conflict copy.

    Neither save is lost: the other device's version stays at the file's path,
    this one goes beside it.
    """
    (device / "shared.txt").write_bytes(text("mine"))
    w = watch()
    assert edge.cloud_files() == {"shared.txt": text("mine")}

    other = make_agent(root="device2", state="state2")  # another device, its own shadows
    (tmp_path / "device2" / "shared.txt").write_bytes(text("mine"))
    assert other.push(tmp_path / "device2" / "shared.txt").mode == "full"  # same content
    theirs = text("mine").replace(b"line 3 ", b"line three ")
    (tmp_path / "device2" / "shared.txt").write_bytes(theirs)
    assert other.push(tmp_path / "device2" / "shared.txt").mode == "delta"

    edited = text("mine").replace(b"line 9 ", b"line nine ")
    (device / "shared.txt").write_bytes(edited)
    result = eventually(lambda: next((r for r in w.pushes("shared.txt")
                                      if r.state == "conflict"), None),
                        what="the fallback upload")
    assert result.mode == "full" and result.conflict_path
    cloud = edge.cloud_files()
    assert cloud["shared.txt"] == theirs and cloud[result.conflict_path] == edited
    log = [json.loads(line) for line in edge.log.getvalue().splitlines()]
    assert [(e["method"], e["status"]) for e in log if e["path"] == "shared.txt"] == [
        ("PUT", 200), ("PUT", 200), ("PATCH", 200), ("PATCH", 409), ("PUT", 200)]


def test_a_conflict_is_shown_by_status(edge, device, agent, watch):
    (device / "plan.txt").write_bytes(text("plan"))
    w = watch()
    assert edge.cloud_files() == {"plan.txt": text("plan")}

    theirs = b"another device changed the plan in the cloud\n"
    (edge.cloud / "plan.txt").write_bytes(theirs)
    mine = text("plan").replace(b"line 1 ", b"line one ")
    (device / "plan.txt").write_bytes(mine)
    result = eventually(lambda: next((r for r in w.results if r.state == "conflict"), None),
                        what="the conflict reported")
    w.idle()
    assert result.path == "plan.txt" and result.conflict_path
    assert result.conflict_path.startswith("plan (edgesync conflict ")
    assert [(s.path, s.state, s.conflict_path) for s in agent.status()] == [
        ("plan.txt", "conflict", result.conflict_path)]
    assert edge.cloud_files() == {"plan.txt": theirs, result.conflict_path: mine}


# --- errors ------------------------------------------------------------------------------------


def test_a_refused_push_is_reported_and_watching_goes_on(edge, device, watch):
    w = watch()
    (device / "ends with a dot.").write_bytes(b"no cloud takes this name")
    (device / "fine.txt").write_bytes(b"fine")
    eventually(in_cloud(edge, "fine.txt", b"fine"))
    w.idle()
    assert edge.cloud_files() == {"fine.txt": b"fine"}
    assert len(w.notices) == 1 and w.notices[0].startswith("ends with a dot.: ")
    assert "ends in a space or a dot" in w.notices[0]


def test_a_missing_folder_cannot_be_watched(agent, device):
    device.rmdir()
    with pytest.raises(ConfigError, match="does not exist"):
        Watcher(agent).start()


@pytest.mark.parametrize("options", [{"debounce": -1}, {"max_deletes": -1},
                                     {"drain_interval": 0}])
def test_bad_options_are_refused(agent, options):
    with pytest.raises(ValueError, match="must"):
        Watcher(agent, **options)


def test_a_watcher_starts_once(agent, watch):
    w = watch()
    with pytest.raises(RuntimeError, match="started already"):
        w.watcher.start()
