"""Test data for the delta engine: Hypothesis strategies, ZIP writers and EdgeCourier archives.

Three ways to make a ZIP, from the most ordinary to the most hand-made:

- :class:`Archive` / :func:`archives` / :func:`archive_pairs`: specifications written
  by :mod:`zipfile` (stored or deflated at any level, extra fields, comments,
  timestamps, directories, UTF-8 names; ``streamed`` writes to a non-seekable
  stream, which gives flag bit 3 and data descriptors);
- :func:`write_zip`: every byte by hand from :class:`RawEntry` records, for
  archives :mod:`zipfile` will not write (encrypted flags, ``..`` names,
  duplicates, deflate streams no zlib setting produces);
- :func:`edgecourier_archive`: the patch archive the EdgeCourier 2017
  prototype sent for a pair of documents.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass, replace

from diff_match_patch import diff_match_patch
from hypothesis import strategies as st

# --- bytes and text ------------------------------------------------------------------

WORDS = (
    "the edge keeps each version of a document and applies the delta before upload "
    "report budget quarterly revenue meeting notes draft final review customer order "
    "<w:p> <w:r> <w:t> </w:t> </w:r> </w:p> r=\"12\" 3.14 2024-05-01 "
    "café naïve Ωmega 文档 ünïcödé \t \n \r\n"
).split(" ")

#: Text-like bytes: words of a small vocabulary (some of it non-ASCII UTF-8).
text = st.lists(st.sampled_from(WORDS), max_size=120).map(lambda ws: " ".join(ws).encode())

#: Something to insert: a few words, or a few arbitrary bytes.
_chunks = st.one_of(
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map(lambda ws: " ".join(ws).encode()),
    st.binary(min_size=1, max_size=24),
)


@st.composite
def edited(draw: st.DrawFn, data: bytes, max_edits: int = 6) -> bytes:
    """``data`` after a few random insertions, deletions and replacements."""
    out = bytearray(data)
    for _ in range(draw(st.integers(0, max_edits))):
        kind = draw(st.sampled_from(("insert", "delete", "replace")))
        pos = draw(st.integers(0, len(out)))
        if kind == "insert":
            out[pos:pos] = draw(_chunks)
        else:
            n = draw(st.integers(0, min(48, len(out) - pos)))
            out[pos:pos + n] = b"" if kind == "delete" else draw(_chunks)
    return bytes(out)


@st.composite
def byte_pairs(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """(base, new): unrelated binary, or binary and an edited copy, or one of them empty."""
    base = draw(st.binary(max_size=600))
    how = draw(st.sampled_from(("unrelated", "edited", "edited", "same", "empty-new")))
    if how == "unrelated":
        return base, draw(st.binary(max_size=600))
    if how == "same":
        return base, base
    if how == "empty-new":
        return base, b""
    return base, draw(edited(base))


@st.composite
def text_pairs(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """(base, new): prose-like UTF-8 and a copy with random edits."""
    base = draw(text)
    return base, draw(edited(base, max_edits=10))


# --- ZIP archives written by zipfile --------------------------------------------------

_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_-.éü文Ω"
_segment = st.text(_NAME_CHARS, min_size=1, max_size=8).filter(lambda s: s not in (".", ".."))
names = st.lists(_segment, min_size=1, max_size=3).map("/".join)

date_times = st.tuples(
    st.integers(1980, 2107), st.integers(1, 12), st.integers(1, 28),
    st.integers(0, 23), st.integers(0, 59), st.integers(0, 59),
)

# Well-formed extra fields (header id, length, data) with ids zipfile leaves alone.
_extra_field = st.tuples(st.sampled_from((0x5455, 0xCAFE, 0x6375, 0xE57A)),
                         st.binary(max_size=12))
extras = st.lists(_extra_field, max_size=2).map(
    lambda fields: b"".join(struct.pack("<HH", hid, len(data)) + data for hid, data in fields))

# Comments without "PK": a trailer signature inside an archive comment makes the
# archive ambiguous, which is tested separately (by hand).
comments = st.binary(max_size=24).filter(lambda b: b"PK" not in b)

# Member contents. A new member whose bytes start with "@@ -" would read as a
# patch in an EdgeCourier archive, so none does.
contents = st.one_of(text, st.binary(max_size=300)).filter(lambda b: not b.startswith(b"@@ -"))


@dataclass(frozen=True)
class Member:
    """One member as zipfile writes it."""

    name: str
    data: bytes = b""
    method: int = zipfile.ZIP_DEFLATED
    level: int | None = None
    date_time: tuple[int, int, int, int, int, int] = (2024, 5, 1, 12, 30, 0)
    extra: bytes = b""
    comment: bytes = b""
    external_attr: int = 0o644 << 16

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")


@dataclass(frozen=True)
class Archive:
    """An archive specification; :meth:`to_bytes` writes it with zipfile."""

    members: tuple[Member, ...] = ()
    comment: bytes = b""
    streamed: bool = False  # to a non-seekable stream: flag bit 3 and data descriptors

    def to_bytes(self) -> bytes:
        sink = _Unseekable() if self.streamed else io.BytesIO()
        with zipfile.ZipFile(sink, "w") as zf:  # type: ignore[arg-type]
            zf.comment = self.comment
            for m in self.members:
                info = zipfile.ZipInfo(m.name, date_time=m.date_time)
                info.extra = m.extra
                info.comment = m.comment
                info.external_attr = m.external_attr
                if m.is_dir:
                    info.external_attr |= (0o40755 << 16) | 0x10
                    info.file_size = info.compress_size = info.CRC = 0
                    zf.mkdir(info)
                else:
                    zf.writestr(info, m.data, compress_type=m.method, compresslevel=m.level)
        return sink.getvalue()

    def contents(self) -> dict[str, bytes]:
        return {m.name: m.data for m in self.members}


class _Unseekable:
    """A write-only stream zipfile cannot seek in (so it writes data descriptors)."""

    def __init__(self) -> None:
        self._buf = io.BytesIO()

    def write(self, data: bytes) -> int:
        return self._buf.write(data)

    def flush(self) -> None:
        pass

    def getvalue(self) -> bytes:
        return self._buf.getvalue()


compressions = st.one_of(
    st.tuples(st.just(zipfile.ZIP_STORED), st.none()),
    st.tuples(st.just(zipfile.ZIP_DEFLATED), st.one_of(st.none(), st.integers(0, 9))),
)


@st.composite
def members(draw: st.DrawFn, name: str | None = None) -> Member:
    name = draw(names) if name is None else name
    if draw(st.integers(0, 7)) == 0:
        return Member(name=name + "/", method=zipfile.ZIP_STORED,
                      date_time=draw(date_times), comment=draw(comments))
    method, level = draw(compressions)
    return Member(
        name=name, data=draw(contents), method=method, level=level,
        date_time=draw(date_times), extra=draw(extras), comment=draw(comments),
        external_attr=draw(st.sampled_from((0o644 << 16, 0o755 << 16, 0, 0x20))),
    )


@st.composite
def archives(draw: st.DrawFn, max_members: int = 6) -> Archive:
    ms = draw(st.lists(members(), max_size=max_members, unique_by=lambda m: m.name))
    return Archive(tuple(ms), comment=draw(comments), streamed=draw(st.booleans()))


@st.composite
def archive_pairs(draw: st.DrawFn, *, remove: bool = True) -> tuple[Archive, Archive]:
    """(base, new): new is base with members removed, modified, recompressed,
    re-dated, given other extras or comments, added and reordered, and maybe
    written the other way (streamed or not) with another archive comment."""
    base = draw(archives())
    actions = ["keep", "keep", "modify", "recompress", "retime", "meta"]
    if remove:
        actions.append("remove")
    out: list[Member] = []
    for m in base.members:
        action = draw(st.sampled_from(actions))
        if action == "remove":
            continue
        if m.is_dir or action == "keep":
            out.append(m)
        elif action == "modify":
            out.append(replace(m, data=draw(edited(m.data).filter(
                lambda b: not b.startswith(b"@@ -")))))
        elif action == "recompress":
            method, level = draw(compressions)
            out.append(replace(m, method=method, level=level))
        elif action == "retime":
            out.append(replace(m, date_time=draw(date_times)))
        else:
            out.append(replace(m, extra=draw(extras), comment=draw(comments)))
    taken = {m.name for m in base.members}
    for m in draw(st.lists(members(), max_size=3, unique_by=lambda m: m.name)):
        if m.name not in taken:
            out.append(m)
            taken.add(m.name)
    if draw(st.booleans()):
        out = draw(st.permutations(out))
    new = Archive(
        tuple(out),
        comment=draw(st.one_of(st.just(base.comment), comments)),
        streamed=draw(st.one_of(st.just(base.streamed), st.booleans())),
    )
    return base, new


def zip_contents(data: bytes) -> dict[str, bytes]:
    """Every member's content, read (and CRC-checked) by zipfile."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        return {info.filename: zf.read(info) for info in zf.infolist()}


def raw_members(data: bytes) -> dict[str, tuple[int, bytes]]:
    """Every member's (method, compressed bytes as stored), read from its local header."""
    out = {}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            nlen, xlen = struct.unpack_from("<HH", data, info.header_offset + 26)
            start = info.header_offset + 30 + nlen + xlen
            out[info.filename] = (info.compress_type, data[start:start + info.compress_size])
    return out


# --- ZIP archives written by hand ------------------------------------------------------


@dataclass
class RawEntry:
    """One member, every field as it will be written."""

    name: bytes
    data: bytes                # as stored (compressed for method 8)
    method: int = 0
    crc: int = 0
    usize: int = 0
    flags: int = 0
    local_flags: int | None = None   # None: the same as ``flags``
    extra: bytes = b""
    comment: bytes = b""
    version: int = 20
    time: int = 0
    date: int = (0 << 9) | (1 << 5) | 1   # 1980-01-01
    descriptor: bool = False   # local CRC/sizes zero, then PK\x07\x08 crc csize usize


def stored(name: str | bytes, content: bytes, **kw: object) -> RawEntry:
    name = name.encode() if isinstance(name, str) else name
    return RawEntry(name, content, 0, zlib.crc32(content), len(content),
                    **kw)  # type: ignore[arg-type]


def raw_deflate(content: bytes, level: int = 6) -> bytes:
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(content) + c.flush()


def deflated(name: str | bytes, content: bytes, raw: bytes | None = None,
             **kw: object) -> RawEntry:
    """A deflated member; ``raw`` is its stream (default: zlib level 6)."""
    name = name.encode() if isinstance(name, str) else name
    raw = raw_deflate(content) if raw is None else raw
    assert zlib.decompressobj(-15).decompress(raw) == content
    return RawEntry(name, raw, 8, zlib.crc32(content), len(content), **kw)  # type: ignore[arg-type]


def write_zip(entries: list[RawEntry], comment: bytes = b"") -> bytes:
    """The archive, byte by byte: local headers and data, central directory, end record."""
    out = bytearray()
    offsets = []
    for e in entries:
        offsets.append(len(out))
        lflags = e.flags if e.local_flags is None else e.local_flags
        if e.descriptor:
            lflags |= 0x08
        sizes = (0, 0, 0) if e.descriptor else (e.crc, len(e.data), e.usize)
        out += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", e.version, lflags, e.method,
                           e.time, e.date, *sizes, len(e.name), len(e.extra))
        out += e.name + e.extra + e.data
        if e.descriptor:
            out += struct.pack("<4sIII", b"PK\x07\x08", e.crc, len(e.data), e.usize)
    cd_start = len(out)
    for e, offset in zip(entries, offsets):
        flags = e.flags | (0x08 if e.descriptor else 0)
        out += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, e.version, flags,
                           e.method, e.time, e.date, e.crc, len(e.data), e.usize,
                           len(e.name), len(e.extra), len(e.comment), 0, 0, 0, offset)
        out += e.name + e.extra + e.comment
    out += struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(entries), len(entries),
                       len(out) - cd_start, cd_start, len(comment))
    return bytes(out + comment)


class BitWriter:
    """Deflate's LSB-first bit order, for hand-made streams."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.count = 0

    def bits(self, value: int, n: int) -> None:
        self.acc |= value << self.count
        self.count += n
        while self.count >= 8:
            self.out.append(self.acc & 0xFF)
            self.acc >>= 8
            self.count -= 8

    def code(self, code: int, n: int) -> None:
        """A Huffman code: sent most significant bit first."""
        self.bits(int(format(code, f"0{n}b")[::-1], 2), n)

    def align(self) -> None:
        if self.count:
            self.bits(0, 8 - self.count)

    def stored(self, data: bytes, final: bool) -> None:
        self.bits(final, 1)
        self.bits(0, 2)
        self.align()
        self.out += len(data).to_bytes(2, "little") + (len(data) ^ 0xFFFF).to_bytes(2, "little")
        self.out += data

    def fixed_literals(self, data: bytes, final: bool) -> None:
        self.bits(final, 1)
        self.bits(1, 2)
        for byte in data:
            if byte < 144:
                self.code(0x30 + byte, 8)
            else:
                self.code(0x190 + byte - 144, 9)
        self.code(0, 7)  # end of block

    def getvalue(self) -> bytes:
        self.align()
        return bytes(self.out)


def unreproducible_deflate(content: bytes) -> bytes:
    """A valid raw deflate stream of ``content`` that no zlib setting writes.

    A non-final stored block of the first few bytes (an odd count), then one
    final fixed-Huffman block of literals only: zlib neither stores a
    compressible prefix nor codes repetitive text without matches in a
    fixed block.
    """
    cut = min(37, len(content))
    writer = BitWriter()
    writer.stored(content[:cut], final=False)
    writer.fixed_literals(content[cut:], final=True)
    out = writer.getvalue()
    d = zlib.decompressobj(-15)
    assert d.decompress(bytes(out)) == content and d.eof and not d.unused_data
    return bytes(out)


# --- EdgeCourier 2017 patch archives ---------------------------------------------------


def dmp_patch_text(old: str, new: str) -> str:
    """What EdgeCourier wrote for a changed member: ``patch_toText(patch_make(old, new))``."""
    dmp = diff_match_patch()
    dmp.Diff_Timeout = 0  # no deadline: the same patch on every machine
    return dmp.patch_toText(dmp.patch_make(old, new))


def edgecourier_archive(base: bytes, new: bytes, *, method: int = zipfile.ZIP_DEFLATED,
                        patches: dict[str, str] | None = None) -> bytes:
    """The EdgeCourier patch archive turning ZIP ``base`` into ZIP ``new``.

    Each member of ``new`` that differs from ``base`` is written at its path:
    as a diff-match-patch patch text when both versions are UTF-8 text,
    whole otherwise. ``patches`` adds (or overrides) members by hand.
    """
    old, cur = zip_contents(base), zip_contents(new)
    members: dict[str, bytes] = {}
    for name, data in cur.items():
        if old.get(name) == data:
            continue
        if name in old:
            try:
                members[name] = dmp_patch_text(old[name].decode(), data.decode()).encode()
                continue
            except UnicodeDecodeError:
                pass
        members[name] = data
    for name, patch_text in (patches or {}).items():
        members[name] = patch_text.encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2017, 6, 1, 0, 0, 0)), data,
                        compress_type=method)
    return out.getvalue()


__all__ = [
    "Archive", "Member", "RawEntry", "archive_pairs", "archives", "byte_pairs", "comments",
    "contents", "date_times", "deflated", "dmp_patch_text", "edgecourier_archive", "edited",
    "extras", "members", "names", "raw_deflate", "raw_members", "stored", "text", "text_pairs",
    "unreproducible_deflate", "write_zip", "zip_contents",
]


def payload_of(delta: bytes) -> bytes:
    """The payload of an edgesync delta: inflated, unless its header says it is stored."""
    import zlib as _zlib

    from edgesync.delta._engine import PAYLOAD_DICTIONARY

    if delta[4] & 0x02:
        return delta[69:]
    return _zlib.decompressobj(-15, zdict=PAYLOAD_DICTIONARY).decompress(delta[69:])
