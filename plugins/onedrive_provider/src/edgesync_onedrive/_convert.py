"""Graph driveItems -> edgesync records (the plugin's one conversion point)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from edgesync.errors import NotAFileError
from edgesync.types import RemoteEntry, Revision
from edgesync_onedrive.quickxorhash import hex_from_base64

__all__ = ["entry_from_item"]


def entry_from_item(path: str, item: dict[str, Any]) -> RemoteEntry:
    """A :class:`~edgesync.types.RemoteEntry` from a Graph driveItem.

    :raises NotAFileError: the item is a folder.
    """
    if "file" not in item:
        raise NotAFileError(f"{path} is a folder in OneDrive", path=path)
    hashes = {}
    quick = (item["file"].get("hashes") or {}).get("quickXorHash")
    if quick:
        hashes["quickxor"] = hex_from_base64(quick)
    modified = item.get("lastModifiedDateTime")
    when = datetime.fromisoformat(modified.replace("Z", "+00:00")) if modified else None
    return RemoteEntry(path=path, size=int(item.get("size", 0)), revision=Revision(item["eTag"]),
                       hashes=hashes, modified=when)
