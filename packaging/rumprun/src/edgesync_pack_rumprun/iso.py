"""Rock Ridge ISO 9660 images for rumprun unikernels, in pure Python.

rumprun mounts the image with the BSD ``cd9660`` file system and reads the
Rock Ridge names, and the image's root becomes Python's ``site-packages``: every
name must come back exactly, and no folder may appear that Python would see
as a package. :func:`write_iso` therefore:

- writes each original name as the Rock Ridge name, and a unique, valid
  ISO 9660 level 3 name beside it (upper case ``[A-Z0-9_]``, a file's name,
  dot and extension at most 30 characters, a folder's at most 31, no two alike
  in one folder even when the source names differ only in case);
- refuses folders more than 7 levels below the root (ISO 9660 would move them
  to ``RR_MOVED``, an importable folder), symbolic links, special files, and
  names that are not printable ASCII or are 255 bytes or longer;
- is reproducible: entries in sorted order, fixed modes (folders ``0o555``,
  files ``0o444``, or ``0o555`` when the source has any execute bit, like
  ``genisoimage -r``), every timestamp the given ``epoch``, in UTC whatever the
  host's time zone;
- replaces the output atomically (temporary file, ``fsync``, rename).

:func:`read_iso` and :func:`extract_iso` read such an image back by its Rock
Ridge names, for checks and tests.
"""

from __future__ import annotations

import calendar
import contextlib
import io
import os
import re
import shutil
import stat
import sys
import tempfile
import threading
import time as _time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import attrs
import pycdlib
import pycdlib.pycdlibexception
import pycdlib.utils

from edgesync._fs import fsync_dir
from edgesync.errors import PackError

__all__ = [
    "DIR_MODE",
    "EXEC_FILE_MODE",
    "FILE_MODE",
    "MAX_DEPTH",
    "MAX_NAME_BYTES",
    "IsoEntry",
    "extract_iso",
    "list_iso",
    "read_iso",
    "read_member",
    "write_iso",
]

#: Rock Ridge mode of every folder on the image.
DIR_MODE = 0o040555
#: Rock Ridge mode of a file without any execute bit in the source.
FILE_MODE = 0o100444
#: Rock Ridge mode of a file with at least one execute bit in the source.
EXEC_FILE_MODE = 0o100555
#: The deepest folder allowed, counted in levels below the image's root
#: (ISO 9660 allows 8 levels including the root; deeper ones are relocated).
MAX_DEPTH = 7
#: Names of this many bytes or more are refused.
MAX_NAME_BYTES = 255

_INTERCHANGE_LEVEL = 3
_MAX_FILE_IDENT = 30  # name + "." + extension, without ";1"
_MAX_DIR_IDENT = 31
_VOLUME_ID = re.compile(r"[A-Z0-9_]{1,32}")
# An ISO 9660 directory record stores the year as 1900 + one byte.
_MAX_EPOCH = calendar.timegm((2155, 12, 31, 23, 59, 59, 0, 0, 0))

# write_iso swaps the clock of pycdlib's modules while it builds an image;
# this keeps two builds in one process from undoing each other's swap.
_CLOCK_LOCK = threading.Lock()


@attrs.frozen
class IsoEntry:
    """One file or folder of an image, as :func:`read_iso` returns it.

    :ivar mode: the Rock Ridge mode, file type bits included
        (``0o040555``, ``0o100444`` or ``0o100555`` on images of :func:`write_iso`).
    :ivar data: the file's content, or ``None`` for a folder.
    """

    mode: int
    data: bytes | None = None

    @property
    def is_dir(self) -> bool:
        """Whether this entry is a folder."""
        return stat.S_ISDIR(self.mode)

    @property
    def executable(self) -> bool:
        """Whether any execute bit is set (on a folder: always, to be searchable)."""
        return bool(self.mode & 0o111)


@attrs.frozen
class _Planned:
    """One entry to add, with both of its names (absolute, ``/``-separated)."""

    iso_path: str
    rr_name: str
    source: Path
    mode: int

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)


# --- writing ------------------------------------------------------------------


def write_iso(tree: Path, out: Path, *, volume_id: str = "EDGESYNC", epoch: int = 0) -> None:
    """Write the folder ``tree`` as a Rock Ridge ISO 9660 image at ``out``.

    The image's root is ``tree`` itself. The same tree (names, contents and
    execute bits; not timestamps, owners or other mode bits) always gives the
    same bytes. ``out`` is replaced atomically (mode ``0o644``): on any error
    it is left as it was, and no temporary file remains.

    :param tree: the folder to pack; empty folders are kept.
    :param out: the image to write; its folder must exist, and must not lie
        inside ``tree``.
    :param volume_id: the volume identifier, 1 to 32 characters of ``A-Z``,
        ``0-9`` and ``_``.
    :param epoch: the time stamped on the volume and on every record, in
        seconds since 1970 (UTC), up to the end of 2155; ``0`` leaves the
        volume's dates "not specified".
    :raises PackError: for a bad argument; a symbolic link, special file, or
        name that is not printable ASCII or has 255 bytes or more in ``tree``;
        or a folder more than :data:`MAX_DEPTH` levels deep. The message names
        the offending path.
    :raises OSError: when ``tree`` cannot be read or ``out`` cannot be written.
    """
    tree = Path(tree)
    out = Path(out)
    if not _VOLUME_ID.fullmatch(volume_id):
        raise PackError(
            f"volume id {volume_id!r} must be 1 to 32 characters of A-Z, 0-9 and _"
        )
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= _MAX_EPOCH:
        raise PackError(
            f"epoch {epoch!r} must be an integer from 0 to {_MAX_EPOCH} (end of 2155)"
        )
    if not tree.is_dir():
        raise PackError(f"{str(tree)!r} is not a folder")
    if out.resolve().is_relative_to(tree.resolve()):
        raise PackError(f"the image {str(out)!r} must not be written inside {str(tree)!r}")

    # Check everything before creating any file.
    plan = list(_plan(tree))

    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fp:
            iso = pycdlib.PyCdlib()
            with _frozen_clock(epoch):
                iso.new(interchange_level=_INTERCHANGE_LEVEL, rock_ridge="1.09",
                        joliet=None, vol_ident=volume_id)
                for entry in plan:
                    if entry.is_dir:
                        iso.add_directory(iso_path=entry.iso_path, rr_name=entry.rr_name,
                                          file_mode=entry.mode)
                    else:
                        iso.add_file(str(entry.source), iso_path=entry.iso_path,
                                     rr_name=entry.rr_name, file_mode=entry.mode)
                iso.write_fp(fp)
            iso.close()
            fp.flush()
            os.fchmod(fp.fileno(), 0o644)
            os.fsync(fp.fileno())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(out.parent)


def _plan(tree: Path) -> Iterator[_Planned]:
    """Check ``tree`` and yield what to add, parents before children, sorted."""

    def walk(folder: Path, iso_dir: str, depth: int) -> Iterator[_Planned]:
        with os.scandir(folder) as it:
            children = sorted(it, key=lambda e: e.name)
        taken: set[str] = set()
        subdirs: list[tuple[Path, str]] = []
        for child in children:
            path = Path(child.path)
            _check_name(child.name, path)
            if child.is_symlink():
                raise PackError(
                    f"{str(path)!r} is a symbolic link; rumprun images hold only "
                    "regular files and folders"
                )
            if child.is_dir(follow_symlinks=False):
                if depth + 1 > MAX_DEPTH:
                    raise PackError(
                        f"{str(path)!r} is {depth + 1} folders below the root; an ISO 9660 "
                        f"image allows at most {MAX_DEPTH} (deeper ones would be moved "
                        "to RR_MOVED)"
                    )
                ident = _dir_ident(child.name, taken)
                iso_path = f"{iso_dir}/{ident}"
                yield _Planned(iso_path, child.name, path, DIR_MODE)
                subdirs.append((path, iso_path))
            elif child.is_file(follow_symlinks=False):
                source_mode = child.stat(follow_symlinks=False).st_mode
                mode = EXEC_FILE_MODE if source_mode & 0o111 else FILE_MODE
                ident = _file_ident(child.name, taken)
                yield _Planned(f"{iso_dir}/{ident};1", child.name, path, mode)
            else:
                raise PackError(
                    f"{str(path)!r} is not a regular file or folder; rumprun images hold "
                    "only regular files and folders"
                )
        for path, iso_path in subdirs:
            yield from walk(path, iso_path, depth + 1)

    yield from walk(tree, "", 0)


def _check_name(name: str, path: Path) -> None:
    """Refuse a name rumprun cannot read reliably."""
    if not name.isascii() or not name.isprintable():
        raise PackError(
            f"{str(path)!r}: the name is not printable ASCII, which rumprun cannot "
            "read reliably"
        )
    if len(name) >= MAX_NAME_BYTES:
        raise PackError(
            f"{str(path)!r}: the name has {len(name)} bytes; at most "
            f"{MAX_NAME_BYTES - 1} are allowed"
        )


def _file_ident(name: str, taken: set[str]) -> str:
    """A unique ISO 9660 level 3 file identifier for ``name``, without ``;1``.

    Always ``NAME.EXT`` (the dot even when the extension is empty, as
    Ecma-119 7.5.1 wants), at most 30 characters in all; Ecma-119 7.5.2 counts
    30 for the name plus extension, so this is valid however the dot is counted.
    """
    base, ext = pycdlib.utils.mangle_file_for_iso9660(name, _INTERCHANGE_LEVEL)
    ext = ext.removesuffix(";1")
    limit = _MAX_FILE_IDENT - len(ext) - 1
    base = base[:limit]
    if not base and not ext:  # cannot happen for a non-empty name; be safe
        base = "_"
    return _unique(f"{base}.{ext}", lambda n: f"{base[:5]}{n:03d}.{ext}", taken)


def _dir_ident(name: str, taken: set[str]) -> str:
    """A unique ISO 9660 level 3 directory identifier for ``name`` (at most 31)."""
    base = pycdlib.utils.mangle_dir_for_iso9660(name, _INTERCHANGE_LEVEL)[:_MAX_DIR_IDENT]
    return _unique(base or "_", lambda n: f"{base[:5]}{n:03d}", taken)


def _unique(ident: str, numbered: Callable[[int], str], taken: set[str]) -> str:
    """``ident``, or the first ``numbered(0)``, ``numbered(1)``... no other entry has."""
    counter = 0
    while _key(ident) in taken:
        ident = numbered(counter)
        counter += 1
    taken.add(_key(ident))
    return ident


def _key(ident: str) -> str:
    """What makes two identifiers of one folder clash: ``CASE.`` and ``CASE`` do."""
    return ident.upper().rstrip(".")


class _FrozenClock:
    """Stands in for the :mod:`time` module inside pycdlib.

    ``time()`` returns the fixed epoch and ``localtime()`` is ``gmtime()``,
    so that the recorded dates do not depend on the clock or the time zone.
    """

    def __init__(self, epoch: int) -> None:
        self._epoch = float(epoch)

    def time(self) -> float:
        return self._epoch

    def localtime(self, secs: float | None = None) -> _time.struct_time:
        return _time.gmtime(self._epoch if secs is None else secs)

    def __getattr__(self, name: str) -> Any:
        return getattr(_time, name)


@contextlib.contextmanager
def _frozen_clock(epoch: int) -> Iterator[None]:
    """Patch the ``time`` reference of every loaded pycdlib module.

    Only pycdlib's modules see the fixed clock; the rest of the process
    (other threads included) keeps the real one.
    """
    clock = _FrozenClock(epoch)
    with _CLOCK_LOCK, contextlib.ExitStack() as stack:
        for name, module in list(sys.modules.items()):
            if (name == "pycdlib" or name.startswith("pycdlib.")) and \
                    getattr(module, "time", None) is _time:
                stack.enter_context(mock.patch.object(module, "time", clock))
        yield


# --- reading ------------------------------------------------------------------


def read_iso(path: Path) -> dict[str, IsoEntry]:
    """Read every file and folder of a Rock Ridge image into memory.

    :param path: the image.
    :returns: each entry's Rock Ridge path (POSIX, relative, no leading slash;
        the root itself is left out), in sorted order, mapped to its
        :class:`IsoEntry` (folders have ``data=None``).
    :raises PackError: when the file is not an ISO 9660 image with Rock Ridge
        names and modes, or holds names or entries that cannot be reproduced
        on a file system (symbolic links, devices, ``..``, duplicates).
    :raises OSError: when the file cannot be read.
    """
    entries: dict[str, IsoEntry] = {}
    with _open_iso(path) as iso:
        for rel, mode in _walk(iso, path):
            if stat.S_ISDIR(mode):
                entries[rel] = IsoEntry(mode)
            else:
                buf = io.BytesIO()
                _translate(path, iso.get_file_from_iso_fp, buf, rr_path="/" + rel)
                entries[rel] = IsoEntry(mode, buf.getvalue())
    return dict(sorted(entries.items()))


def list_iso(path: Path) -> dict[str, int]:
    """Every entry's Rock Ridge path mapped to its mode, without reading contents.

    :raises PackError: as :func:`read_iso`.
    """
    with _open_iso(path) as iso:
        return dict(sorted(_walk(iso, path)))


def read_member(path: Path, member: str) -> bytes:
    """One file of the image, by its Rock Ridge path (relative, POSIX).

    :raises PackError: not a Rock Ridge image, or no such file.
    """
    buf = io.BytesIO()
    with _open_iso(path) as iso:
        _translate(path, iso.get_file_from_iso_fp, buf, rr_path="/" + member.strip("/"))
    return buf.getvalue()


def extract_iso(path: Path, dest: Path) -> None:
    """Extract every file and folder (empty ones too) of a Rock Ridge image.

    The image's root becomes ``dest``. On the host, folders get mode ``0o755``
    and files ``0o755`` when any execute bit is set on the image, else
    ``0o644``. The extraction is built beside ``dest`` and renamed into place,
    so on an error ``dest`` is left as it was.

    :param path: the image.
    :param dest: a folder that does not exist yet, or is empty; its parent
        must exist.
    :raises PackError: when ``dest`` is not an empty folder, or for an image
        :func:`read_iso` refuses.
    :raises OSError: when the image cannot be read or ``dest`` written.
    """
    dest = Path(dest)
    if dest.is_symlink() or (dest.exists() and (not dest.is_dir() or any(dest.iterdir()))):
        raise PackError(f"{str(dest)!r} must be an empty folder or not exist")
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        with _open_iso(path) as iso:
            for rel, mode in _walk(iso, path):
                target = staging.joinpath(*rel.split("/"))
                if stat.S_ISDIR(mode):
                    target.mkdir()
                    target.chmod(0o755)
                else:
                    with open(target, "xb") as fp:
                        _translate(path, iso.get_file_from_iso_fp, fp, rr_path="/" + rel)
                    target.chmod(0o755 if mode & 0o111 else 0o644)
        staging.chmod(0o755)
        os.rename(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


@contextlib.contextmanager
def _open_iso(path: Path) -> Iterator[pycdlib.PyCdlib]:
    """Open an image with pycdlib, for reading."""
    iso = pycdlib.PyCdlib()
    _translate(path, iso.open, str(path))
    try:
        if not iso.has_rock_ridge():
            raise PackError(f"{str(path)!r} has no Rock Ridge names")
        yield iso
    finally:
        iso.close()


def _walk(iso: pycdlib.PyCdlib, path: Path) -> Iterator[tuple[str, int]]:
    """Yield ``(relative Rock Ridge path, mode)`` of every entry, parents first."""
    try:
        for dirpath, dirnames, filenames in iso.walk(rr_path="/"):
            rel_dir = dirpath.strip("/")
            seen: set[str] = set()
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                if name in ("", ".", "..") or "/" in name or "\0" in name or name in seen:
                    raise PackError(
                        f"{str(path)!r}: invalid or duplicate name {name!r} in "
                        f"{'/' + rel_dir!r}"
                    )
                seen.add(name)
                rel = f"{rel_dir}/{name}" if rel_dir else name
                record = iso.get_record(rr_path="/" + rel)
                mode = record.rock_ridge.get_file_mode()
                if record.is_dir() != stat.S_ISDIR(mode) or not (
                        stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                    raise PackError(
                        f"{str(path)!r}: {rel!r} is neither a regular file nor a folder "
                        f"(mode {mode:o})"
                    )
                yield rel, mode
    except (pycdlib.pycdlibexception.PyCdlibException, UnicodeDecodeError,
            AttributeError) as exc:
        # AttributeError: an entry without Rock Ridge (its .rock_ridge is None).
        raise PackError(f"{str(path)!r} is not a readable Rock Ridge image: {exc}") from exc


def _translate(path: Path, func: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a pycdlib function, turning its errors into :class:`PackError`."""
    try:
        return func(*args, **kwargs)
    except pycdlib.pycdlibexception.PyCdlibException as exc:
        raise PackError(f"{str(path)!r} is not a readable Rock Ridge image: {exc}") from exc
