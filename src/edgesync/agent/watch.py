"""Watching the synced folder: push each save as it happens (``edgesync watch DIR``).

This module owns the step from file-system events to :class:`~edgesync.agent.core.Agent`
calls, and nothing else (what is sent, and the offline outbox, are the agent's):

- which names are never synced (:data:`IGNORED`, :func:`is_ignored`): lock,
  temporary and swap files of office programs and editors, system clutter,
  version-control folders;
- debouncing: a burst of writes to one file becomes one push, sent once the
  file has been quiet for ``debounce`` seconds and its size and modification
  time held still over that interval;
- atomic saves: an editor that writes ``x.tmp`` and renames it over ``x``
  pushes ``x``;
- deletes, only when enabled, and never a mass delete without confirmation;
- the outbox: drained every few seconds while anything waits in it.

:class:`Watcher` runs a watchdog observer on the agent's root and one worker
thread that makes every agent call, one at a time::

    with Watcher(agent, on_result=print, on_notice=print):
        wait_for_ctrl_c()
"""

from __future__ import annotations

import fnmatch
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import attrs

from edgesync.agent.core import Agent, PushResult
from edgesync.errors import ConfigError, EdgesyncError, NotFoundError

__all__ = ["IGNORED", "Watcher", "is_ignored"]

log = logging.getLogger(__name__)

#: Names that are never synced, as :mod:`fnmatch` patterns matched (ignoring
#: case) against *each component* of a path, so that everything inside an
#: ignored folder is ignored too. Which program makes which file:
IGNORED: tuple[str, ...] = (
    # Microsoft Office: "~$report.docx" is the owner (lock) file while a document
    # is open; Word saves through "~WRL0001.tmp"/"~WRD0000.tmp", Excel through
    # files such as "A1B2C3D4.tmp"; LibreOffice's lock is ".~lock.report.odt#",
    # and it saves through "lu12345abc.tmp".
    "~$*",
    ".~lock.*#",
    "~*.tmp",
    "*.tmp",
    "*.temp",
    # Browsers' downloads in progress: Chrome and Edge ".crdownload", Firefox
    # (and KDE's file transfers) ".part".
    "*.crdownload",
    "*.part",
    # Vim and Neovim: swap files ".notes.txt.swp" (".swo", ".swx" when one
    # exists already), and "4913", the file Vim creates and deletes to test
    # whether it may write in a folder. Emacs, Vim (with 'backup'), gedit and
    # others: backups "notes.txt~". Emacs: lock links ".#notes.txt" and
    # auto-saves "#notes.txt#". Kate and KWrite: "notes.txt.kate-swp".
    ".*.swp",
    ".*.swo",
    ".*.swx",
    "*~",
    ".#*",
    "#*#",
    "4913",
    "*.kate-swp",
    # What file managers leave behind: macOS Finder ".DS_Store", Windows
    # Explorer "Thumbs.db" (thumbnails) and "desktop.ini" (folder settings),
    # KDE Dolphin ".directory".
    ".DS_Store",
    "Thumbs.db",
    "desktop.ini",
    ".directory",
    # Version-control metadata (a folder; in a git worktree ".git" is a file),
    # and edgesync's own folders (the local provider's ".edgesync-local", a
    # state folder kept inside the synced folder).
    ".git",
    ".hg",
    ".svn",
    ".edgesync*",
)

_PATTERNS = tuple(pattern.lower() for pattern in IGNORED)


def is_ignored(rel_path: str) -> bool:
    """Whether a path is never synced: some component of it matches :data:`IGNORED`.

    The match ignores case (Windows writes ``~WRL0001.TMP`` as readily as
    ``.tmp``), and ``\\`` separates components as ``/`` does.

    :param rel_path: a path relative to the sync root (``Reports/~$q3.docx``).
    :returns: ``True`` for a lock, temporary, swap or system file, or anything
        inside ``.git``, ``.hg``, ``.svn`` or an ``.edgesync*`` folder.

    >>> is_ignored("Reports/~$q3.docx"), is_ignored("Reports/q3.docx")
    (True, False)
    """
    for part in rel_path.replace("\\", "/").split("/"):
        name = part.lower()
        if name and any(fnmatch.fnmatchcase(name, pattern) for pattern in _PATTERNS):
            return True
    return False


@attrs.define
class _Item:
    """One scheduled operation on one path (the latest event decides which)."""

    op: str  # "push" or "delete"
    deadline: float  # time.monotonic() when it may run
    signature: tuple[int, int] | None = None  # (size, mtime_ns) when scheduled


def _signature(path: Path) -> tuple[int, int] | None:
    """(size, mtime_ns) of a regular file, or ``None`` when there is none."""
    try:
        st = path.stat()
    except OSError:
        return None
    if not os.path.isfile(path):
        return None
    return st.st_size, st.st_mtime_ns


class Watcher:
    """Pushes the saves under an agent's root as they happen.

    :param agent: the agent; the watcher is then its only user (its calls are
        made one at a time, from the watcher's worker thread or, for
        :meth:`confirm_deletes`, from the caller's thread under the same lock).
    :param debounce: seconds a file must stay quiet (no event, same size and
        modification time) before it is pushed; a burst of writes becomes one push.
    :param propagate_deletes: delete at the edge and in the cloud the files
        deleted here; otherwise deletes are not sent.
    :param max_deletes: the most deletes sent at once; a larger batch (deletes
        arriving with less than ``debounce`` seconds between them) is held until
        :meth:`confirm_deletes`, and while deletes are held, later ones join them.
    :param drain_interval: seconds between looks at the agent's outbox; saves
        queued while the edge was unreachable go out on the first look after
        it is back.
    :param on_result: called with each :class:`~edgesync.agent.core.PushResult`
        (pushes, deletes, and what the outbox sent; not a save queued again).
    :param on_notice: called with a message a person should see: a refused
        push, held deletes, the edge unreachable while draining. Default: the
        ``edgesync.agent.watch`` logger, at level warning.
    :raises ValueError: a negative ``debounce`` or ``max_deletes``, or a
        ``drain_interval`` that is not positive.

    The callbacks run on the watcher's threads and must not block for long.
    Use it as a context manager, or call :meth:`start` and :meth:`stop`.
    Changes still waiting for their quiet interval when the watcher stops are
    not lost: the next :meth:`start` scans the folder and pushes them.
    """

    def __init__(self, agent: Agent, *, debounce: float = 1.0, propagate_deletes: bool = False,
                 max_deletes: int = 20, drain_interval: float = 5.0,
                 on_result: Callable[[PushResult], None] | None = None,
                 on_notice: Callable[[str], None] | None = None) -> None:
        if debounce < 0 or max_deletes < 0 or drain_interval <= 0:
            raise ValueError("debounce and max_deletes must not be negative, and "
                             "drain_interval must be positive")
        self.agent = agent
        self.debounce = debounce
        self.propagate_deletes = propagate_deletes
        self.max_deletes = max_deletes
        self.drain_interval = drain_interval
        self._on_result = on_result
        self._on_notice = on_notice
        # One condition guards the schedule and the worker's flags; the agent
        # lock serialises agent calls (worker thread and confirm_deletes).
        self._cond = threading.Condition()
        self._agent_lock = threading.RLock()
        self._due: dict[str, _Item] = {}  # relative path on disk -> what to do
        self._held: set[str] = set()
        self._busy = False
        self._stopping = False
        self._next_drain = 0.0
        self._drain_error: str | None = None
        self._observer: Any = None
        self._worker: threading.Thread | None = None

    # --- running -----------------------------------------------------------------

    def start(self) -> Watcher:
        """Watch the root, then scan it: push what changed while nobody watched.

        The scan runs on the worker thread (:meth:`wait_idle` waits for it):
        every file not ignored is pushed (the agent answers ``unchanged``
        cheaply when its shadow matches), then the outbox is drained. Files
        deleted while nobody watched are not looked for (``edgesync watch``
        deals with them before it starts the watcher).

        :returns: ``self``.
        :raises ConfigError: the root is not a folder, or the system refuses
            to watch it (on Linux, too few inotify watches).
        :raises RuntimeError: it was started already.
        """
        from watchdog.observers import Observer

        if self._worker is not None:
            raise RuntimeError("this watcher was started already; make a new one")
        root = self.agent.root
        if not root.is_dir():
            raise ConfigError(f"the synced folder {root} does not exist (or is not a folder)")
        observer = Observer()
        observer.schedule(_Handler(self), str(root), recursive=True)
        try:
            observer.start()  # first, so that nothing saved during the scan is missed
        except OSError as exc:
            raise ConfigError(
                f"cannot watch {root}: {exc}. On Linux, a folder with very many subfolders "
                "may need more inotify watches: raise fs.inotify.max_user_watches "
                "(sysctl)") from exc
        self._observer = observer
        with self._cond:
            self._busy = True  # the scan counts as work for wait_idle
        self._worker = threading.Thread(target=self._run, name="edgesync-watch", daemon=True)
        self._worker.start()
        return self

    def stop(self) -> None:
        """Stop watching; a push in progress finishes, scheduled ones are dropped.

        Nothing is lost by dropping them: the next :meth:`start` pushes what differs.
        """
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
        if self._worker is not None:
            self._worker.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is scheduled, the worker rests and no event waits for dispatch.

        Held deletes do not count (they wait for a person), nor does the
        outbox (it waits for the edge). Events the system has not delivered
        yet cannot count: watchdog holds a rename's first half for up to half
        a second, to pair it with the second. So a test first waits for the
        effect of its change, then for idleness.

        :param timeout: the longest wait, in seconds.
        :returns: ``True`` once idle, ``False`` if still busy after ``timeout``.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._due or self._busy or self._events_waiting():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                # Observer progress does not notify this condition: look again soon.
                self._cond.wait(min(remaining, 0.05))
            return True

    def _events_waiting(self) -> bool:
        observer = self._observer
        return observer is not None and observer.event_queue.unfinished_tasks > 0

    # --- deletes held for confirmation --------------------------------------------

    @property
    def held_deletes(self) -> list[str]:
        """Deletes held because there were more than ``max_deletes`` at once (sorted paths)."""
        with self._cond:
            return sorted(self._held)

    def confirm_deletes(self) -> list[PushResult]:
        """Send the held deletes (a file that reappeared meanwhile is kept, and pushed).

        :returns: the results of the deletes sent (a refused one is reported
            through ``on_notice`` and left out).
        """
        with self._cond:
            held, self._held = sorted(self._held), set()
        results = []
        for rel in held:
            path = self.agent.root / rel
            if path.exists():
                self._schedule(rel, "push")
                continue
            result = self._call(rel, self.agent.delete, path)
            if result is not None:
                results.append(result)
        return results

    # --- events (the observer's thread) -------------------------------------------

    def _on_event(self, event: Any) -> None:
        kind = event.event_type
        if kind == "moved":
            # An atomic save: the editor wrote a temporary file and renamed it
            # over the document; or LibreOffice's and Word's renaming dance.
            # The destination holds the new content; the source is gone
            # unless something took its place meanwhile.
            source = os.fsdecode(event.src_path)
            if not os.path.lexists(source):
                self._gone(source, event.is_directory)
            self._changed(os.fsdecode(event.dest_path), event.is_directory)
        elif kind == "deleted":
            self._gone(os.fsdecode(event.src_path), event.is_directory)
        elif kind in ("created", "modified", "closed") and (
                not event.is_directory or kind == "created"):
            # A folder's "modified" only says its entries changed: the files
            # themselves report. A new folder may hold files already (moved
            # or copied in, or written before its watch was added): scan it.
            self._changed(os.fsdecode(event.src_path), event.is_directory)
        # "opened", "closed_no_write" and "attrib" do not change content.

    def _relative(self, path: str) -> str | None:
        """The path relative to the root (``/``-separated), or ``None`` for the root or outside."""
        try:
            rel = Path(path).relative_to(self.agent.root).as_posix()
        except ValueError:
            return None
        return None if rel in ("", ".") else rel

    def _changed(self, path: str, is_directory: bool) -> None:
        rel = self._relative(path)
        if rel is None or is_ignored(rel):
            return
        if not is_directory:
            self._schedule(rel, "push")
            return
        for folder, dirs, files in os.walk(path):
            dirs[:] = [name for name in dirs if not is_ignored(name)]
            for name in files:
                inner = self._relative(os.path.join(folder, name))
                if inner is not None and not is_ignored(inner):
                    self._schedule(inner, "push")

    def _gone(self, path: str, is_directory: bool) -> None:
        if not self.propagate_deletes:
            return
        rel = self._relative(path)
        if rel is None or is_ignored(rel):
            return
        if not is_directory:
            self._schedule(rel, "delete")
            return
        # A folder moved out of the root reports only itself: its files are
        # the ones the agent knows under it.
        prefix = rel + "/"
        known = {record.path for record in self.agent.shadow.records()}
        known.update(self.agent.outbox.items())
        for inner in sorted(known):
            if inner.startswith(prefix) and not is_ignored(inner):
                self._schedule(inner, "delete")

    def _schedule(self, rel: str, op: str) -> None:
        # Every event pushes the deadline back: a burst of writes is one push.
        signature = _signature(self.agent.root / rel) if op == "push" else None
        with self._cond:
            self._due[rel] = _Item(op, time.monotonic() + self.debounce, signature)
            self._cond.notify_all()

    # --- the worker ----------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._guarded(self._scan)
        finally:
            with self._cond:
                self._busy = False
                self._next_drain = time.monotonic() + self.drain_interval
                self._cond.notify_all()
        while True:
            with self._cond:
                while True:
                    if self._stopping:
                        return
                    now = time.monotonic()
                    pushes, deletes, wake = self._take_due(now)
                    drain = now >= self._next_drain
                    if pushes or deletes or drain:
                        self._busy = True
                        break
                    self._cond.wait(min(wake, self._next_drain) - now)
            try:
                # Pushes first: after a folder was renamed, the files are in
                # their new place before the old one is deleted.
                for rel, item in pushes:
                    self._guarded(self._push, rel, item)
                if deletes:
                    self._guarded(self._delete_batch, deletes)
                if drain:
                    self._guarded(self._drain)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _take_due(self, now: float) -> tuple[list[tuple[str, _Item]], list[str], float]:
        """Remove and return the pushes due, the deletes due, and when to look next.

        Deletes are one group: due once no delete was scheduled for ``debounce``
        seconds, so that a mass delete is seen whole, however long it takes.
        Call with the condition held.
        """
        pushes = sorted(((rel, item) for rel, item in self._due.items()
                         if item.op == "push" and item.deadline <= now),
                        key=lambda pair: pair[1].deadline)
        for rel, _ in pushes:
            del self._due[rel]
        delete_deadlines = [item.deadline for item in self._due.values() if item.op == "delete"]
        deletes: list[str] = []
        if delete_deadlines and max(delete_deadlines) <= now:
            deletes = sorted(rel for rel, item in self._due.items() if item.op == "delete")
            for rel in deletes:
                del self._due[rel]
        waits = [item.deadline for item in self._due.values() if item.op == "push"]
        if delete_deadlines and not deletes:
            waits.append(max(delete_deadlines))
        return pushes, deletes, min(waits, default=now + 3600.0)

    def _guarded(self, work: Callable[..., None], *args: Any) -> None:
        """Run a piece of work; whatever it raises is reported, and the worker lives on."""
        try:
            work(*args)
        except Exception as exc:  # a bug must not stop the syncing of everything else
            log.exception("the watcher failed unexpectedly")
            self._notice(f"unexpected error: {type(exc).__name__}: {exc}")

    def _scan(self) -> None:
        root = self.agent.root
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(name for name in dirs if not is_ignored(name))
            for name in sorted(files):
                rel = self._relative(os.path.join(folder, name))
                if self._stopping:
                    return
                if rel is not None and not is_ignored(rel):
                    self._call(rel, self.agent.push, root / rel)
        self._drain()

    def _push(self, rel: str, item: _Item) -> None:
        signature = _signature(self.agent.root / rel)
        if signature is None:
            return  # gone (or a folder now): its delete event, if any, says what to do
        if signature != item.signature:
            # Still being written without telling us (or the event came before the
            # last write): wait for another quiet interval, unless a newer event did.
            with self._cond:
                if rel not in self._due:
                    self._due[rel] = _Item("push", time.monotonic() + self.debounce, signature)
            return
        self._call(rel, self.agent.push, self.agent.root / rel)

    def _delete_batch(self, rels: list[str]) -> None:
        root = self.agent.root
        deletes = []
        for rel in rels:
            if (root / rel).exists():
                self._schedule(rel, "push")  # deleted and made again (a save by delete + create)
            elif self._known(rel):
                deletes.append(rel)
            # else: never synced, nothing to delete at the edge
        if not deletes:
            return
        with self._cond:
            hold = bool(self._held) or len(deletes) > self.max_deletes
            if hold:
                self._held.update(deletes)
                count = len(self._held)
        if hold:
            self._notice(f"held {count} deletes (more than {self.max_deletes} at once): the "
                         "files stay at the edge and in the cloud. To delete them there too, "
                         "confirm them (edgesync watch --propagate-deletes --confirm-deletes)")
            return
        for rel in deletes:
            self._call(rel, self.agent.delete, root / rel)

    def _known(self, rel: str) -> bool:
        """Whether the edge may hold ``rel``: the agent synced it or has it queued."""
        try:
            name = self.agent.relpath(self.agent.root / rel)
        except EdgesyncError:
            return False
        return self.agent.shadow.get(name) is not None or name in self.agent.outbox.items()

    def _drain(self) -> None:
        self._next_drain = time.monotonic() + self.drain_interval
        if not len(self.agent.outbox):
            self._drain_error = None
            return
        try:
            with self._agent_lock:
                results = self.agent.drain()
        except EdgesyncError as exc:
            self._drain_problem(exc.message, f"the outbox cannot be sent: {exc.message}")
            return
        for result in results:
            if result.mode != "queued":  # it was queued already: nothing new
                self._result(result)
        if results and results[-1].mode == "queued":
            self._drain_problem("unreachable", f"{results[-1].error}; {len(self.agent.outbox)} "
                                "change(s) wait in the outbox and go out when it is back")
        else:
            self._drain_error = None

    def _drain_problem(self, key: str, message: str) -> None:
        # Said once, not every few seconds while it lasts.
        if key != self._drain_error:
            self._notice(message)
        self._drain_error = key

    def _call(self, rel: str, method: Callable[[Path], PushResult],
              path: Path) -> PushResult | None:
        """Push or delete one file; report the result, or why it failed."""
        try:
            with self._agent_lock:
                result = method(path)
        except NotFoundError:
            return None  # vanished before it could be read: its delete event follows
        except EdgesyncError as exc:
            self._notice(f"{rel}: {exc.message}")
            return None
        except OSError as exc:  # unreadable (permissions, a file locked on Windows)
            self._notice(f"{rel}: cannot be read: {exc.strerror or exc}")
            return None
        self._result(result)
        return result

    # --- reporting -------------------------------------------------------------------

    def _result(self, result: PushResult) -> None:
        if self._on_result is not None:
            try:
                self._on_result(result)
            except Exception:
                log.exception("on_result failed")

    def _notice(self, message: str) -> None:
        if self._on_notice is None:
            log.warning("%s", message)
            return
        try:
            self._on_notice(message)
        except Exception:
            log.exception("on_notice failed")


class _Handler:
    """The watchdog event handler: hands every event to the watcher."""

    def __init__(self, watcher: Watcher) -> None:
        self._watcher = watcher

    def dispatch(self, event: Any) -> None:
        try:
            self._watcher._on_event(event)
        except Exception:  # the observer thread must survive a surprise (a racing stat)
            log.exception("a file-system event could not be handled: %r", event)
