"""The values of the delta API: limits on what a patch may produce, and a delta's description."""

from __future__ import annotations

import attrs

__all__ = ["DeltaInfo", "Limits", "MemberInfo"]



def _positive(_instance: object, attribute: attrs.Attribute, value: int) -> None:
    if type(value) is not int or value <= 0:  # bool is an int, but True is no limit
        raise ValueError(f"Limits.{attribute.name} must be a positive integer, not {value!r}")


@attrs.frozen(kw_only=True)
class Limits:
    """Bounds that :func:`~edgesync.delta.patch` enforces before producing anything.

    A delta that would cross one raises :class:`~edgesync.errors.LimitExceededError`
    naming the field, and nothing is returned. The defaults admit every real
    office document (a 60,000-row spreadsheet inflates to 32 MB, a large ODS to
    77 MB) and stop decompression bombs long before memory runs out.

    :ivar max_result_size: largest rebuilt file, in bytes (default 1 GiB).
    :ivar max_content_size: most uncompressed member content a patch may hold
        in memory in total, base members included (default 2 GiB).
    :ivar max_members: most members in a ZIP, in the base or the result
        (default 65,535, the most a ZIP without ZIP64 holds).
    :ivar max_expansion: the content produced may be at most this many times
        the size of base and delta together, and the delta's payload may
        inflate to at most this many times the delta, each plus
        ``expansion_allowance``. Default 250: real office XML deflates by 5-50x.
    :ivar expansion_allowance: bytes any payload may inflate to, and any patch
        produce, beyond what ``max_expansion`` allows (default 64 MiB): a small
        delta of a very compressible file is legitimate, and that much is
        harmless to hold in memory.

    .. versionadded:: 0.1
    """

    max_result_size: int = attrs.field(default=1 << 30, validator=_positive)
    max_content_size: int = attrs.field(default=2 << 30, validator=_positive)
    max_members: int = attrs.field(default=65_535, validator=_positive)
    max_expansion: int = attrs.field(default=250, validator=_positive)
    expansion_allowance: int = attrs.field(default=64 << 20, validator=_positive)


@attrs.frozen(kw_only=True)
class MemberInfo:
    """One member of the result that the delta does not simply keep.

    :ivar name: the member's path inside the ZIP ("" for a file that is not a ZIP).
    :ivar operation: ``"patch"`` (content changed from the base member of that
        name), ``"add"`` (new member), ``"raw"`` (compressed bytes carried as
        they are, for members that are neither stored nor deflated).
    :ivar codec: ``"copy-insert"``, ``"dmp"`` (diff-match-patch text patch),
        ``"same"`` (content unchanged, only recompressed), or ``"literal"``
        (the whole file, for a delta that would not be smaller).
    :ivar encoded_size: bytes of the (uncompressed) payload that describe it.
    """

    name: str
    operation: str
    codec: str
    encoded_size: int


@attrs.frozen(kw_only=True)
class DeltaInfo:
    """What :func:`~edgesync.delta.describe` reads from a delta, without its base.

    :ivar version: the wire-format version (1), or 2017 for an EdgeCourier archive.
    :ivar container: ``"zip"`` (member-wise delta of a ZIP document), ``"raw"``
        (the file as one byte string), or ``"edgecourier-2017"`` (a patch
        archive of the EdgeCourier prototype).
    :ivar base_sha256: hex SHA-256 of the base the delta applies to ("" for
        EdgeCourier archives, which carry no hashes).
    :ivar result_sha256: hex SHA-256 of the file :func:`~edgesync.delta.patch` returns.
    :ivar exact: True when that file is byte for byte the one given to
        :func:`~edgesync.delta.diff` as ``new``; False when some member's
        compression could not be reproduced and is rebuilt canonically (the
        member contents are still exactly the new ones, and ``result_sha256``
        names the canonical bytes, so both sides agree on them).
    :ivar size: the delta's length in bytes.
    :ivar members: the members that are patched, added or carried raw.
    :ivar kept: how many members are taken unchanged from the base.
    :ivar removed: how many base members the result leaves out.
    """

    version: int
    container: str
    base_sha256: str
    result_sha256: str
    exact: bool
    size: int
    members: tuple[MemberInfo, ...] = ()
    kept: int = 0
    removed: int = 0
