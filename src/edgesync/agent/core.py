"""The agent's work: send each save as the smallest thing the edge can use, and never lose one.

For every file under the sync root the agent keeps a *shadow*: the exact
bytes the edge holds (its version, which is the base of the next delta), in a
:class:`~edgesync.edge.store.VersionStore` under the agent's state folder.
:meth:`Agent.push` then sends

- a delta against the shadow, when there is one and the delta is smaller than
  the file compressed;
- the whole file (gzip-compressed when that helps) when there is no shadow,
  when the delta would not be smaller, or when the edge answers 409 because it
  holds another version;

and records what the edge now holds. When the edge cannot be reached, the
save goes to the *outbox*, a file flushed to disk before :meth:`Agent.push`
returns, and :meth:`Agent.drain` sends it later, read afresh from the disk, so
several saves of one file go out as one (the latest).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from edgesync import delta as engine
from edgesync._fs import atomic_write
from edgesync.agent.client import EdgeClient
from edgesync.edge.service import NO_BASE
from edgesync.edge.store import FileRecord, UploadState, VersionStore
from edgesync.errors import (
    BaseMismatchError,
    ConfigError,
    EdgesyncError,
    EdgeUnreachableError,
    InvalidPathError,
    NotFoundError,
)
from edgesync.paths import normalize_path

__all__ = ["Agent", "FileStatus", "Outbox", "PushResult"]

#: gzip level for whole-file uploads (worth it for text; office files barely shrink).
GZIP_LEVEL = 6


@attrs.frozen(kw_only=True)
class PushResult:
    """What one push did.

    :ivar path: the file's path relative to the sync root (``/``-separated).
    :ivar mode: ``"delta"``, ``"full"``, ``"unchanged"`` (the edge has it
        already: nothing sent), ``"queued"`` (the edge is unreachable: in the
        outbox) or ``"deleted"``.
    :ivar sent: request-body bytes sent (0 when unchanged or queued).
    :ivar size: the file's size.
    :ivar state: where the version stands: the edge's upload state
        (``uploaded``, ``pending``, ``conflict``, ``failed``) or ``queued``.
    :ivar sha256: SHA-256 of the file pushed.
    :ivar seconds: wall time of the push.
    :ivar conflict_path: where the version went because of a conflict in the cloud.
    :ivar error: why it was queued, or the edge's upload error.
    """

    path: str
    mode: str
    sent: int
    size: int
    state: str
    sha256: str
    seconds: float
    conflict_path: str | None = None
    error: str | None = None

    @property
    def saving(self) -> float:
        """The share of the file's bytes that did not have to be sent (0..1)."""
        return 1.0 - self.sent / self.size if self.size else 0.0


@attrs.frozen(kw_only=True)
class FileStatus:
    """One file as ``edgesync status`` shows it.

    :ivar path: relative to the sync root.
    :ivar state: ``synced``, ``pending`` (the edge has it, the cloud not yet),
        ``conflict``, ``failed`` or ``queued`` (not yet at the edge).
    :ivar size: the size of the version the edge holds (0 if none yet).
    :ivar conflict_path: the conflict copy, for ``conflict``.
    :ivar error: the last error, if any.
    """

    path: str
    state: str
    size: int
    conflict_path: str | None = None
    error: str | None = None


class Outbox:
    """Saves and deletes waiting for the edge, flushed to disk on every change.

    :param path: the outbox file (JSON).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._items: dict[str, dict[str, Any]] = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            self._items = {}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"the agent's outbox {path} cannot be read ({exc}); move it "
                              "away and push the folder again") from exc

    def add(self, rel: str, op: str, reason: str = "") -> None:
        """Queue ``op`` (``"push"`` or ``"delete"``) for ``rel``, replacing what was queued."""
        with self._lock:
            self._items[rel] = {"op": op, "queued": time.time(), "reason": reason}
            self._save()

    def discard(self, rel: str) -> None:
        """Forget what was queued for ``rel``."""
        with self._lock:
            if self._items.pop(rel, None) is not None:
                self._save()

    def items(self) -> dict[str, dict[str, Any]]:
        """A copy of what waits: path -> ``{"op", "queued", "reason"}``."""
        with self._lock:
            return {rel: dict(item) for rel, item in self._items.items()}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, rel: object) -> bool:
        return rel in self._items

    def _save(self) -> None:
        atomic_write(self.path, json.dumps(self._items, indent=1).encode("utf-8"))


class Agent:
    """Pushes the files of one sync root to one edge.

    :param root: the synced folder on the device.
    :param state_dir: where the agent keeps shadows, the outbox and counters.
    :param client: the edge client.
    """

    def __init__(self, root: Path, state_dir: Path, client: EdgeClient) -> None:
        self.root = Path(root).expanduser().resolve()
        self.state_dir = Path(state_dir)
        self.client = client
        self.shadow = VersionStore(self.state_dir / "shadow")
        self.outbox = Outbox(self.state_dir / "outbox.json")
        self._stats_path = self.state_dir / "stats.json"
        self._lock = threading.Lock()
        try:
            self.stats: dict[str, int] = json.loads(self._stats_path.read_text("utf-8"))
        except (OSError, ValueError):
            self.stats = {"pushes": 0, "bytes_sent": 0, "bytes_files": 0}

    # --- paths -------------------------------------------------------------------

    def relpath(self, path: Path | str) -> str:
        """The edge's name of a file under the root (``Reports/q3.docx``).

        :raises InvalidPathError: outside the sync root, or not a portable name.
        """
        # abspath, not Path.absolute(): "sub/../a.txt" is "a.txt", not a ".." name
        full = Path(os.path.abspath(Path(path).expanduser()))
        try:
            rel = full.relative_to(self.root)
        except ValueError:
            try:
                rel = full.resolve().relative_to(self.root)
            except ValueError:
                raise InvalidPathError(f"{path} is not inside the synced folder {self.root}",
                                       path=str(path)) from None
        return normalize_path(rel.as_posix())

    # --- pushing -----------------------------------------------------------------

    def push(self, path: Path | str, *,
             progress: Callable[[int, int], None] | None = None) -> PushResult:
        """Send the current content of one file to the edge.

        :param path: a file under the sync root.
        :param progress: called with (bytes sent, total) while a body goes out.
        :returns: what was sent and where the version stands.
        :raises NotFoundError: the file does not exist (any more).
        :raises InvalidPathError: the file is outside the root or badly named.
        :raises EdgesyncError: the edge refused the save (not for being
            unreachable: then the save is queued and ``mode == "queued"``).
        """
        started = time.perf_counter()
        rel = self.relpath(path)
        try:
            data = (self.root / rel).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise NotFoundError(f"{self.root / rel} is not a file (any more)",
                                path=rel) from None
        digest = hashlib.sha256(data).hexdigest()
        record = self.shadow.get(rel)
        if (record is not None and digest in (record.sha256, record.source_sha256)
                and record.state == UploadState.UPLOADED and rel not in self.outbox):
            return PushResult(path=rel, mode="unchanged", sent=0, size=len(data),
                              state=record.state, sha256=digest,
                              seconds=time.perf_counter() - started)
        try:
            mode, sent, reply = self._send(rel, data, digest, record, progress)
        except EdgeUnreachableError as exc:
            self.outbox.add(rel, "push", exc.message)
            return PushResult(path=rel, mode="queued", sent=0, size=len(data), state="queued",
                              sha256=digest, seconds=time.perf_counter() - started,
                              error=exc.message)
        self.outbox.discard(rel)
        self._count(sent, len(data))
        upload = reply.get("upload", {})
        return PushResult(path=rel, mode=mode, sent=sent, size=len(data),
                          state=upload.get("state", ""), sha256=digest,
                          seconds=time.perf_counter() - started,
                          conflict_path=upload.get("conflict_path"),
                          error=(upload.get("error") or {}).get("message"))

    def _send(self, rel: str, data: bytes, digest: str, record: FileRecord | None,
              progress: Callable[[int, int], None] | None) -> tuple[str, int, dict[str, Any]]:
        base = None
        if record is not None and self.shadow.has_blob(record.sha256):
            base = self.shadow.read_blob(record.sha256)
        if base is not None:
            delta = engine.diff(base, data, path=rel)
            info = engine.describe(delta)
            if not _whole_file(info) and not _no_smaller(delta, data):
                try:
                    reply = self.client.patch(rel, delta, progress=progress)
                except BaseMismatchError:
                    pass  # the edge holds another version: send the whole file
                else:
                    held = data if info.exact else engine.patch(base, delta)
                    self._remember(rel, held, digest, reply)
                    return "delta", len(delta), reply
        # The base tells the edge where this edit started (no version: "none"), so
        # that a version another device saved meanwhile is kept, not replaced.
        reply = self.client.put(rel, data, sha256=digest,
                                base=record.sha256 if record is not None else NO_BASE,
                                gzip_level=GZIP_LEVEL, progress=progress)
        self._remember(rel, data, digest, reply)
        return "full", int(reply.get("received", len(data))), reply

    def _remember(self, rel: str, held: bytes, digest: str, reply: dict[str, Any]) -> None:
        """Make ``held`` (the bytes the edge now has) the shadow of ``rel``."""
        sha = self.shadow.put_bytes(held)
        self.shadow.commit(rel, sha, len(held))
        upload = reply.get("upload", {})
        self.shadow.update(rel, sha, state=upload.get("state", UploadState.PENDING),
                           conflict_path=upload.get("conflict_path"),
                           error=upload.get("error"),
                           source_sha256=digest if digest != sha else None)

    def _count(self, sent: int, size: int) -> None:
        with self._lock:
            self.stats["pushes"] = self.stats.get("pushes", 0) + 1
            self.stats["bytes_sent"] = self.stats.get("bytes_sent", 0) + sent
            self.stats["bytes_files"] = self.stats.get("bytes_files", 0) + size
            atomic_write(self._stats_path, json.dumps(self.stats).encode("utf-8"))

    def delete(self, path: Path | str) -> PushResult:
        """Delete a file's version at the edge and in the cloud (the file is gone here).

        Only the version this device last synced is deleted: a newer one made
        elsewhere is kept (the edge answers ``revision_conflict`` or
        ``base_mismatch``, raised here).
        """
        started = time.perf_counter()
        rel = self.relpath(path)
        record = self.shadow.get(rel)
        try:
            if record is not None:
                try:
                    self.client.delete(rel, sha256=record.sha256)
                except NotFoundError:
                    pass  # already gone at the edge
        except EdgeUnreachableError as exc:
            self.outbox.add(rel, "delete", exc.message)
            return PushResult(path=rel, mode="queued", sent=0, size=0, state="queued",
                              sha256="", seconds=time.perf_counter() - started,
                              error=exc.message)
        self.shadow.remove(rel)
        self.outbox.discard(rel)
        return PushResult(path=rel, mode="deleted", sent=0, size=0, state="deleted",
                          sha256="", seconds=time.perf_counter() - started)

    def drain(self) -> list[PushResult]:
        """Send what waits in the outbox; stop at the first sign the edge is still away.

        A queued save is read from the disk now, so it sends the file's latest
        content; a file deleted meanwhile is dropped from the outbox.

        :returns: the results, in order (the last one ``queued`` if the edge is away).
        """
        results = []
        for rel, item in sorted(self.outbox.items().items(), key=lambda kv: kv[1]["queued"]):
            path = self.root / rel
            try:
                if item["op"] == "delete":
                    result = self.delete(path)
                elif not path.is_file():
                    self.outbox.discard(rel)
                    continue
                else:
                    result = self.push(path)
            except EdgesyncError as exc:
                self.outbox.add(rel, item["op"], f"refused by the edge: {exc.message}")
                raise
            results.append(result)
            if result.mode == "queued":
                break
        return results

    # --- status ------------------------------------------------------------------

    def status(self) -> list[FileStatus]:
        """Every file the agent knows: synced, pending, conflict, failed or queued."""
        queued = self.outbox.items()
        files = {}
        for record in self.shadow.records():
            state = "synced" if record.state == UploadState.UPLOADED else record.state
            error = (record.error or {}).get("message")
            files[record.path] = FileStatus(path=record.path, state=state, size=record.size,
                                            conflict_path=record.conflict_path, error=error)
        for rel, item in queued.items():
            old = files.get(rel)
            files[rel] = FileStatus(path=rel, state="queued", size=old.size if old else 0,
                                    error=item.get("reason") or None)
        return [files[rel] for rel in sorted(files)]


def _no_smaller(delta: bytes, data: bytes) -> bool:
    """Whether the delta is not smaller than the whole file compressed (tiny files).

    Only deltas above a sixteenth of the file are worth compressing the file for;
    below that a delta is smaller than any compressed form of real documents.
    """
    if len(delta) * 16 < len(data):
        return False
    return len(delta) >= min(len(data), len(gzip.compress(data, GZIP_LEVEL, mtime=0)))


def _whole_file(info: engine.DeltaInfo) -> bool:
    """Whether the engine fell back to the whole file, deflated: a delta no smaller than it."""
    return (info.container == "raw" and len(info.members) == 1
            and info.members[0].codec == "literal")
