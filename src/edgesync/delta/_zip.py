"""The byte-exact model of a ZIP archive, and its "frame".

A ZIP file is modelled as what is needed to write it again byte for byte:

    [local header 0][data 0][descriptor 0] ... [local header n-1][data n-1][descriptor n-1]
    [central directory record for each entry, in central-directory order]
    [end of central directory record][archive comment]

:func:`parse` accepts only archives that fit that model exactly (no bytes
before the first entry or between records, no ZIP64, no encryption, names
that are safe relative paths and unique). Anything else is not modelled, and
the engine diffs it as opaque bytes, which is always correct.

The *frame* is every byte of the archive except the members' data, written
so that it changes little from one save to the next: fields that can be
derived from the members (CRC, sizes, offsets, counts) are replaced by a flag
saying "derived", and fields of the same kind are stored together in columns
(all names, then all timestamps, ...), so that a save which bumps every
timestamp changes one short run of the frame. The engine delta-encodes the
new frame against the old one like any other member.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from edgesync.delta._wire import Reader, Writer

__all__ = ["Archive", "Entry", "NotModelled", "Truth", "build", "directory_truths", "parse",
           "read_frame", "write_frame"]

_LOCAL = b"PK\x03\x04"
_CENTRAL = b"PK\x01\x02"
_EOCD = b"PK\x05\x06"
_DD_SIG = b"PK\x07\x08"
_LOCAL_FMT = struct.Struct("<4sHHHHHIIIHH")        # 30 bytes
_CENTRAL_FMT = struct.Struct("<4sHHHHHHIIIHHHHHII")  # 46 bytes
_EOCD_FMT = struct.Struct("<4sHHHHIIH")            # 22 bytes
_U32 = 0xFFFFFFFF


class NotModelled(Exception):
    """The archive does not fit the exact model; the reason is the message."""


class Entry:
    """One member as written: its local header, data span, descriptor and central record."""

    __slots__ = (
        "name", "l_version", "l_flags", "method", "l_time", "l_date", "l_crc", "l_csize",
        "l_usize", "l_extra", "data_start", "data_end", "dd", "central",
    )

    def __init__(self, **fields: object) -> None:
        for key, value in fields.items():
            setattr(self, key, value)


class Central(NamedTuple):
    """A central-directory record, field by field, as written."""

    index: int          # the physical entry it describes
    made_by: int
    version: int
    flags: int
    method: int
    time: int
    date: int
    crc: int
    csize: int
    usize: int
    disk: int
    iattr: int
    eattr: int
    offset: int
    name: bytes
    extra: bytes
    comment: bytes


class Archive(NamedTuple):
    """A parsed archive: entries in physical order plus the directory and trailer."""

    entries: list[Entry]
    central: list[Central]   # in central-directory order
    disk: int
    cd_disk: int
    n_disk: int
    n_total: int
    cd_size: int
    cd_offset: int
    comment: bytes


class Truth(NamedTuple):
    """What the derived fields of an entry derive from."""

    crc: int
    usize: int
    csize: int


def _check_name(name: bytes) -> None:
    text = name.replace(b"\\", b"/")
    if not text:
        raise NotModelled("a member has an empty name")
    if text.startswith(b"/") or (len(text) > 1 and text[1:2] == b":"):
        raise NotModelled(f"member name {name!r} is an absolute path")
    if b".." in text.split(b"/"):
        raise NotModelled(f"member name {name!r} leaves the archive ('..')")
    if b"\x00" in text:
        raise NotModelled(f"member name {name!r} holds a NUL byte")


def parse(data: bytes) -> Archive:
    """Model ``data`` exactly, or raise :class:`NotModelled` saying why not."""
    if len(data) < _EOCD_FMT.size or not data.startswith((_LOCAL, _EOCD)):
        raise NotModelled("not a ZIP archive")
    # The record is 22 bytes: a signature closer to the end than that is not one.
    eocd_pos = data.rfind(_EOCD, max(0, len(data) - 65557), len(data) - _EOCD_FMT.size + 4)
    if eocd_pos < 0:
        raise NotModelled("no end-of-central-directory record")
    (_, disk, cd_disk, n_disk, n_total, cd_size, cd_offset,
     comment_len) = _EOCD_FMT.unpack_from(data, eocd_pos)
    if eocd_pos + _EOCD_FMT.size + comment_len != len(data):
        raise NotModelled("bytes after the archive comment")
    if 0xFFFF in (n_disk, n_total) or _U32 in (cd_size, cd_offset):
        raise NotModelled("ZIP64 archives are diffed as opaque bytes")
    if disk or cd_disk:
        raise NotModelled("multi-disk archives are not modelled")
    if cd_offset + cd_size != eocd_pos:
        raise NotModelled("the central directory is not where the trailer says")
    comment = data[eocd_pos + _EOCD_FMT.size:]

    raw_central = []
    pos = cd_offset
    for _ in range(n_total):
        if pos + _CENTRAL_FMT.size > eocd_pos or data[pos:pos + 4] != _CENTRAL:
            raise NotModelled("a damaged central directory")
        fields = _CENTRAL_FMT.unpack_from(data, pos)
        nlen, xlen, clen = fields[10], fields[11], fields[12]
        end = pos + _CENTRAL_FMT.size + nlen + xlen + clen
        if end > eocd_pos:
            raise NotModelled("a damaged central directory")
        name = data[pos + 46:pos + 46 + nlen]
        extra = data[pos + 46 + nlen:pos + 46 + nlen + xlen]
        ccomment = data[pos + 46 + nlen + xlen:end]
        raw_central.append((fields, name, extra, ccomment))
        pos = end
    if pos != eocd_pos:
        raise NotModelled("the central directory holds more records than counted")

    names = [c[1] for c in raw_central]
    if len(set(names)) != len(names):
        raise NotModelled("duplicate member names")
    for name in names:
        _check_name(name)

    order = sorted(range(len(raw_central)), key=lambda k: raw_central[k][0][16])
    entries: list[Entry] = []
    central: list[Central | None] = [None] * len(raw_central)
    pos = 0
    for k in order:
        fields, name, extra, ccomment = raw_central[k]
        (_, made_by, version, flags, method, time, date, crc, csize, usize,
         _nlen, _xlen, _clen, cdisk, iattr, eattr, offset) = fields
        if offset != pos:
            raise NotModelled("gaps or overlaps between members")
        if flags & 0x41:
            raise NotModelled("encrypted members are diffed as opaque bytes")
        if pos + 30 > cd_offset or data[pos:pos + 4] != _LOCAL:
            raise NotModelled("a damaged local header")
        (_, l_version, l_flags, l_method, l_time, l_date, l_crc, l_csize, l_usize,
         l_nlen, l_xlen) = _LOCAL_FMT.unpack_from(data, pos)
        if l_flags & 0x41:
            raise NotModelled("encrypted members are diffed as opaque bytes")
        if l_method != method:
            raise NotModelled("local and central headers disagree on the method")
        if data[pos + 30:pos + 30 + l_nlen] != name:
            raise NotModelled("local and central headers disagree on a name")
        data_start = pos + 30 + l_nlen + l_xlen
        data_end = data_start + csize
        if data_end > cd_offset:
            raise NotModelled("a member's data runs past the central directory")
        dd = b""
        if l_flags & 0x08:
            dd = _descriptor(data, data_end, cd_offset)
        entry = Entry(
            name=name, l_version=l_version, l_flags=l_flags, method=method, l_time=l_time,
            l_date=l_date, l_crc=l_crc, l_csize=l_csize, l_usize=l_usize,
            l_extra=data[pos + 30 + l_nlen:data_start], data_start=data_start,
            data_end=data_end, dd=dd, central=k,
        )
        central[k] = Central(len(entries), made_by, version, flags, method, time, date, crc,
                             csize, usize, cdisk, iattr, eattr, offset, name, extra, ccomment)
        entries.append(entry)
        pos = data_end + len(dd)
    if pos != cd_offset:
        raise NotModelled("bytes between the last member and the central directory")
    return Archive(entries, central, disk, cd_disk, n_disk, n_total, cd_size,  # type: ignore[arg-type]
                   cd_offset, comment)


def _descriptor(data: bytes, at: int, limit: int) -> bytes:
    """The data descriptor at ``at``: the one whose end is where a record starts."""
    for size in (16, 24, 12, 20):
        end = at + size
        if end > limit:
            continue
        if (size in (16, 24)) != (data[at:at + 4] == _DD_SIG):
            continue
        if end == limit or data[end:end + 4] == _LOCAL:
            return data[at:end]
    raise NotModelled("a data descriptor that cannot be delimited")


# --- the frame ------------------------------------------------------------------------
#
# Derived-or-literal flags: the frame stores a field only when it is not what
# the members imply, so an ordinary archive's frame holds no CRCs, sizes or
# offsets at all, and editing one member does not change the frame.

_L_DERIVED, _L_ZERO, _L_LITERAL = 0, 1, 2
_DD_NONE, _DD_SIG_DERIVED, _DD_NOSIG_DERIVED, _DD_LITERAL = 0, 1, 2, 3
# Bits of a central record's "same as" mask.
_C_VERSION, _C_FLAGS, _C_TIME, _C_NAME, _C_SIZES, _C_OFFSET = 1, 2, 4, 8, 16, 32


def write_frame(archive: Archive, truths: list[Truth]) -> bytes:
    """Serialize everything but member data; ``truths`` gives each entry's real values."""
    names, fixed, times, extras, local_sizes, descriptors = (Writer() for _ in range(6))
    entries = archive.entries
    for entry, truth in zip(entries, truths, strict=True):
        names.blob(entry.name)
        fixed.uint(entry.l_version, 2)
        fixed.uint(entry.l_flags, 2)
        fixed.uint(entry.method, 2)
        times.uint(entry.l_time, 2)
        times.uint(entry.l_date, 2)
        extras.blob(entry.l_extra)
        actual = (entry.l_crc, entry.l_csize, entry.l_usize)
        if actual == (truth.crc, truth.csize, truth.usize):
            local_sizes.u8(_L_DERIVED)
        elif actual == (0, 0, 0):
            local_sizes.u8(_L_ZERO)
        else:
            local_sizes.u8(_L_LITERAL)
            for value in actual:
                local_sizes.uint(value, 4)
        dd = entry.dd
        if not dd:
            descriptors.u8(_DD_NONE)
        elif dd == _DD_SIG + _sizes(truth):
            descriptors.u8(_DD_SIG_DERIVED)
        elif dd == _sizes(truth):
            descriptors.u8(_DD_NOSIG_DERIVED)
        else:
            descriptors.u8(_DD_LITERAL)
            descriptors.blob(dd)

    cd = Writer()
    offsets = _offsets(entries, truths)
    for rec in archive.central:
        entry = entries[rec.index]
        truth = truths[rec.index]
        cd.varint(rec.index)
        same = 0
        same |= _C_VERSION if rec.version == entry.l_version else 0
        same |= _C_FLAGS if rec.flags == entry.l_flags else 0
        same |= _C_TIME if (rec.time, rec.date) == (entry.l_time, entry.l_date) else 0
        same |= _C_NAME if rec.name == entry.name else 0
        same |= _C_SIZES if (rec.crc, rec.csize, rec.usize) == (truth.crc, truth.csize,
                                                                 truth.usize) else 0
        same |= _C_OFFSET if rec.offset == offsets[rec.index] else 0
        cd.u8(same)
        cd.uint(rec.made_by, 2)
        if not same & _C_VERSION:
            cd.uint(rec.version, 2)
        if not same & _C_FLAGS:
            cd.uint(rec.flags, 2)
        if not same & _C_TIME:
            cd.uint(rec.time, 2)
            cd.uint(rec.date, 2)
        if not same & _C_SIZES:
            for value in (rec.crc, rec.csize, rec.usize):
                cd.uint(value, 4)
        if not same & _C_OFFSET:
            cd.uint(rec.offset, 4)
        cd.uint(rec.disk, 2)
        cd.uint(rec.iattr, 2)
        cd.uint(rec.eattr, 4)
        cd.blob(rec.extra)
        cd.blob(rec.comment)

    out = Writer()
    out.varint(len(entries))
    for column in (names, fixed, times, extras, local_sizes, descriptors, cd):
        out.blob(column.getvalue())
    # The trailer: counts and the directory's place are derived unless odd.
    derived = (archive.n_disk == archive.n_total == len(entries))
    out.u8(1 if derived else 0)
    if not derived:
        out.uint(archive.n_disk, 2)
        out.uint(archive.n_total, 2)
    out.blob(archive.comment)
    return out.getvalue()


def directory_truths(archive: Archive) -> list[Truth]:
    """Each entry's truth as the archive's own directory states it.

    Right for every entry whose data is at hand unchanged: the frame of such
    an archive then derives exactly the fields the file holds.
    """
    return [Truth(archive.central[e.central].crc, archive.central[e.central].usize,
                  e.data_end - e.data_start) for e in archive.entries]


def _sizes(truth: Truth) -> bytes:
    return struct.pack("<III", truth.crc, truth.csize, truth.usize)


def _offsets(entries: list[Entry], truths: list[Truth]) -> list[int]:
    offsets, pos = [], 0
    for entry, truth in zip(entries, truths, strict=True):
        offsets.append(pos)
        pos += 30 + len(entry.name) + len(entry.l_extra) + truth.csize + len(entry.dd)
    return offsets


def read_frame(frame: bytes, *, max_members: int) -> Archive:
    """Parse a frame back into an :class:`Archive` whose derived fields are unset.

    The entries' CRC and size fields hold ``None`` where the frame says "derived";
    :func:`build` fills them in. Raises :class:`~edgesync.errors.CorruptDeltaError`.
    """
    r = Reader(frame, "the ZIP frame")
    n = r.varint(max_members)
    names, fixed, times, extras, local_sizes, descriptors, cd = (
        Reader(r.blob(), "the ZIP frame") for _ in range(7))
    entries = []
    for _ in range(n):
        name = names.blob(0xFFFF)
        l_version, l_flags, method = fixed.uint(2), fixed.uint(2), fixed.uint(2)
        l_time, l_date = times.uint(2), times.uint(2)
        l_extra = extras.blob(0xFFFF)
        mode = local_sizes.u8()
        if mode == _L_DERIVED:
            l_sizes: tuple[int | None, ...] = (None, None, None)
        elif mode == _L_ZERO:
            l_sizes = (0, 0, 0)
        elif mode == _L_LITERAL:
            l_sizes = (local_sizes.uint(4), local_sizes.uint(4), local_sizes.uint(4))
        else:
            raise local_sizes.fail(f"unknown local-size mode {mode}")
        dmode = descriptors.u8()
        if dmode == _DD_LITERAL:
            dd: bytes | int = descriptors.blob(24)
        elif dmode in (_DD_NONE, _DD_SIG_DERIVED, _DD_NOSIG_DERIVED):
            dd = dmode
        else:
            raise descriptors.fail(f"unknown descriptor mode {dmode}")
        entries.append(Entry(
            name=name, l_version=l_version, l_flags=l_flags, method=method, l_time=l_time,
            l_date=l_date, l_crc=l_sizes[0], l_csize=l_sizes[1], l_usize=l_sizes[2],
            l_extra=l_extra, data_start=None, data_end=None, dd=dd, central=None,
        ))
    central = []
    seen = set()
    for _ in range(n):
        index = cd.varint(n - 1) if n else cd.varint(0)
        if index in seen:
            raise cd.fail("two directory records for one member")
        seen.add(index)
        entry = entries[index]
        same = cd.u8()
        made_by = cd.uint(2)
        version = entry.l_version if same & _C_VERSION else cd.uint(2)
        flags = entry.l_flags if same & _C_FLAGS else cd.uint(2)
        if same & _C_TIME:
            time, date = entry.l_time, entry.l_date
        else:
            time, date = cd.uint(2), cd.uint(2)
        sizes: tuple[int | None, ...] = ((None, None, None) if same & _C_SIZES
                                         else (cd.uint(4), cd.uint(4), cd.uint(4)))
        offset = None if same & _C_OFFSET else cd.uint(4)
        disk, iattr, eattr = cd.uint(2), cd.uint(2), cd.uint(4)
        extra, comment = cd.blob(0xFFFF), cd.blob(0xFFFF)
        name = entry.name if same & _C_NAME else b""
        if not same & _C_NAME:
            raise cd.fail("directory names that differ from local names are not modelled")
        central.append(Central(index, made_by, version, flags, entry.method, time, date,
                               *sizes, disk, iattr, eattr, offset, name, extra,  # type: ignore[arg-type]
                               comment))
    for column in (names, fixed, times, extras, local_sizes, descriptors, cd):
        column.expect_end()
    derived = r.u8()
    if derived == 1:
        n_disk = n_total = n
    elif derived == 0:
        n_disk, n_total = r.uint(2), r.uint(2)
    else:
        raise r.fail("unknown trailer mode")
    comment = r.blob(0xFFFF)
    r.expect_end()
    return Archive(entries, central, 0, 0, n_disk, n_total, 0, 0, comment)


def build(archive: Archive, datas: list[bytes], truths: list[Truth]) -> bytes:
    """Write the archive with each entry's (compressed) data; derived fields from ``truths``."""
    parts: list[bytes] = []
    offsets = []
    pos = 0
    for entry, data, truth in zip(archive.entries, datas, truths, strict=True):
        offsets.append(pos)
        crc = truth.crc if entry.l_crc is None else entry.l_crc
        csize = truth.csize if entry.l_csize is None else entry.l_csize
        usize = truth.usize if entry.l_usize is None else entry.l_usize
        header = _LOCAL_FMT.pack(_LOCAL, entry.l_version, entry.l_flags, entry.method,
                                 entry.l_time, entry.l_date, crc & _U32, csize & _U32,
                                 usize & _U32, len(entry.name), len(entry.l_extra))
        dd = entry.dd
        if isinstance(dd, int):
            dd = {_DD_NONE: b"", _DD_SIG_DERIVED: _DD_SIG + _sizes(truth),
                  _DD_NOSIG_DERIVED: _sizes(truth)}[dd]
        parts += (header, entry.name, entry.l_extra, data, dd)
        pos += 30 + len(entry.name) + len(entry.l_extra) + len(data) + len(dd)
    cd_offset = pos
    for rec in archive.central:
        truth = truths[rec.index]
        crc = truth.crc if rec.crc is None else rec.crc
        csize = truth.csize if rec.csize is None else rec.csize
        usize = truth.usize if rec.usize is None else rec.usize
        offset = offsets[rec.index] if rec.offset is None else rec.offset
        parts.append(_CENTRAL_FMT.pack(
            _CENTRAL, rec.made_by, rec.version, rec.flags, rec.method, rec.time, rec.date,
            crc & _U32, csize & _U32, usize & _U32, len(rec.name), len(rec.extra),
            len(rec.comment), rec.disk, rec.iattr, rec.eattr, offset & _U32))
        parts += (rec.name, rec.extra, rec.comment)
        pos += 46 + len(rec.name) + len(rec.extra) + len(rec.comment)
    if cd_offset > _U32 or pos > _U32:
        # Only reachable from a hostile frame: ZIP64 is never modelled.
        from edgesync.errors import CorruptDeltaError
        raise CorruptDeltaError("the rebuilt archive would need ZIP64, which the frame cannot describe")
    parts.append(_EOCD_FMT.pack(_EOCD, 0, 0, archive.n_disk, archive.n_total,
                                pos - cd_offset, cd_offset, len(archive.comment)))
    parts.append(archive.comment)
    return b"".join(parts)
