"""File-system helpers shared by the ``local`` provider and the edge's store."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["fsync_dir"]


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries to disk, so that a rename in it survives a crash.

    Some file systems refuse ``fsync`` on a folder; that is ignored.
    """
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
