"""Container-aware deltas: the smallest thing an edge can apply and verify.

Three functions, bytes in and bytes out, no I/O::

    from edgesync.delta import diff, patch, describe

    delta = diff(old, new, path="report.docx")   # on the device
    info = describe(delta)                       # what it holds, without the base
    assert patch(old, delta) == new              # on the edge (info.exact is True)

For ZIP documents (docx/xlsx/pptx and their macro variants, odt/ods/odp,
EPUB, any other ZIP) the delta describes the new archive as operations on the
base's members plus the archive metadata needed to rebuild it byte for byte;
every other file is one member. The format is specified in
``docs/delta-format.md``; a delta can be applied by a Python with nothing but
its standard library (and ``diff-match-patch`` for the paper's text codec).

:func:`patch` also reads the patch archives of the EdgeCourier prototype
(SEC 2017).

Errors are :class:`edgesync.errors.DeltaError` and its subclasses, never
anything else, and never a partial result.
"""

from __future__ import annotations

from edgesync.delta import _engine
from edgesync.delta._types import DeltaInfo, Limits, MemberInfo

__all__ = ["FORMAT_VERSION", "DeltaInfo", "Limits", "MemberInfo", "describe", "diff", "patch"]

#: The wire-format version :func:`diff` writes and :func:`patch` reads.
FORMAT_VERSION = _engine.VERSION


def diff(base: bytes, new: bytes, *, path: str | None = None) -> bytes:
    """The delta that turns ``base`` into ``new``.

    :param base: the version the receiver has (may be empty).
    :param new: the version to send.
    :param path: the file's name, if known. It is informational: the container
        is recognised from the bytes, so a misnamed file is still handled right.
    :returns: the wire delta. A delta larger than an eighth of ``new`` is
        compared with ``new`` deflated whole (a LITERAL delta), and the smaller
        is returned; below that, literals travel deflated anyway.

    ``patch(base, diff(base, new)) == new`` always holds when
    ``describe(delta).exact``; otherwise the result is the canonical rebuild
    whose hash the delta carries (see :class:`DeltaInfo`).

    .. versionadded:: 0.1
    """
    del path  # recognised from the content; kept for callers and future hints
    return _engine.diff(base, new)


def patch(base: bytes, delta: bytes, *, limits: Limits | None = None) -> bytes:
    """Apply ``delta`` to ``base`` and return the verified result.

    :param base: the version the delta was made against.
    :param delta: a delta from :func:`diff`, or an EdgeCourier 2017 patch
        archive (a ZIP of diff-match-patch texts), which is applied to the
        members and rebuilt canonically.
    :param limits: bounds on what the patch may produce (default :class:`Limits`).
    :returns: the new file; its SHA-256 is checked against the delta's.
    :raises BaseMismatchError: the delta was made for another base.
    :raises UnsupportedFormatError: not a delta, or a newer format version.
    :raises CorruptDeltaError: truncated, damaged, or the result fails its hash.
    :raises LimitExceededError: the result would exceed ``limits``.

    .. versionadded:: 0.1
    """
    try:
        return _engine.patch(base, delta, limits=limits)
    except _engine.DeltaError:
        raise
    except (MemoryError, RecursionError) as exc:
        raise _engine.LimitExceededError(
            f"applying the delta ran out of resources ({type(exc).__name__})",
            limit="max_content_size") from exc


def describe(delta: bytes, *, limits: Limits | None = None) -> DeltaInfo:
    """Read what a delta holds, without its base.

    :param delta: a delta from :func:`diff` or an EdgeCourier 2017 patch archive.
    :param limits: bounds on the payload it may inflate (default :class:`Limits`).
    :returns: a frozen :class:`DeltaInfo`.
    :raises UnsupportedFormatError: not a delta, or a newer format version.
    :raises CorruptDeltaError: truncated or damaged.

    .. versionadded:: 0.1
    """
    if isinstance(delta, (bytes, bytearray, memoryview)) and \
            bytes(delta[:4]) in (b"PK\x03\x04", b"PK\x05\x06"):
        from edgesync.delta import _edgecourier
        return _edgecourier.describe(bytes(delta), limits or Limits())
    return _engine.describe(delta, limits=limits)
