"""Content hashes: the built-in ``sha256`` and computing several at once.

Providers' native hash types (Dropbox content hash, OneDrive QuickXorHash) are
registered by their plugins through ``edgesync_hash_types``; the edge looks
them up in :meth:`edgesync.plugins.PluginHost.hash_types`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import BinaryIO

from edgesync.hookspecs import hookimpl
from edgesync.types import Hasher, HashSpec

__all__ = ["CHUNK", "hash_bytes", "hash_stream"]

#: Bytes read at a time when hashing a stream.
CHUNK = 1 << 20


@hookimpl
def edgesync_hash_types() -> Iterable[HashSpec]:
    """The built-in ``sha256`` (what the delta format and the edge's store use)."""
    yield HashSpec(name="sha256", factory=hashlib.sha256,
                   description="SHA-256 of the whole content (built in)")


def hash_stream(stream: BinaryIO, factories: Mapping[str, Callable[[], Hasher]]) -> dict[str, str]:
    """Read ``stream`` to its end once and return every hash of it.

    :param stream: a binary file object, read from its current position.
    :param factories: hasher factories by hash type.
    :returns: lower-case hex digests by hash type.
    """
    hashers = {name: factory() for name, factory in factories.items()}
    while chunk := stream.read(CHUNK):
        for hasher in hashers.values():
            hasher.update(chunk)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}


def hash_bytes(data: bytes, factories: Mapping[str, Callable[[], Hasher]]) -> dict[str, str]:
    """Every hash of ``data``, by hash type (see :func:`hash_stream`).

    :param data: the content.
    :param factories: hasher factories by hash type.
    :returns: lower-case hex digests by hash type.
    """
    result = {}
    for name, factory in factories.items():
        hasher = factory()
        hasher.update(data)
        result[name] = hasher.hexdigest()
    return result
