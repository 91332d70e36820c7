"""SDK metadata -> edgesync records (the plugin's one conversion point)."""

from __future__ import annotations

from datetime import timezone
from typing import Any

from edgesync.errors import NotAFileError
from edgesync.types import RemoteEntry, Revision

__all__ = ["entry_from_metadata"]


def entry_from_metadata(path: str, metadata: Any) -> RemoteEntry:
    """A :class:`~edgesync.types.RemoteEntry` from a ``FileMetadata``.

    :param path: the edgesync path (relative, without the Dropbox root).
    :param metadata: the SDK's metadata of the file.
    :raises NotAFileError: the metadata is a folder's.
    """
    import dropbox.files

    if not isinstance(metadata, dropbox.files.FileMetadata):
        raise NotAFileError(f"{path} is a folder in Dropbox", path=path)
    modified = metadata.server_modified
    if modified is not None and modified.tzinfo is None:
        modified = modified.replace(tzinfo=timezone.utc)  # the SDK parses UTC as naive
    hashes = {"dropbox": metadata.content_hash} if metadata.content_hash else {}
    return RemoteEntry(path=path, size=metadata.size, revision=Revision(metadata.rev),
                       hashes=hashes, modified=modified)
