"""Bit-exact re-deflation of ZIP members: recipes, their search and their replay.

This module owns the ``deflate`` side of rebuilding a ZIP container byte for
byte. For a member stored with method 8 the diff side knows the member's raw
deflate stream and its uncompressed content; :func:`find_recipe` finds the zlib
parameters (a :class:`Recipe`) with which :func:`deflate` turns the content back
into exactly that stream, and :meth:`Recipe.to_bytes` is the recipe's wire
form inside a delta. The patch side replays the recipe on the patched content.

A recipe is either one raw deflate stream (``block_size == 0``) or the
block-parallel layout of LibreOffice's ``ThreadedDeflater`` (and pigz): the
input is cut into ``block_size`` blocks, each compressed by its own deflate
stream primed with the previous ``dict_size`` bytes of input; every block but
the last ends with ``Z_SYNC_FLUSH`` (which byte-aligns with an empty stored
block, so the pieces concatenate) and the last with ``Z_FINISH``.

Level 0 is not delegated to zlib: how zlib cuts stored blocks depends on the
output buffer each ``deflate()`` call gets, which is an accident of the
Python version. A level-0 recipe therefore means the layout zlib produces when
it has room for the whole output: stored blocks of 65535 bytes, the last one
final. For levels 1-9 zlib's output depends only on the parameters and the
input (not on how the input is fed), which is what makes incremental
verification possible.

Everything here is pure Python over the standard library's :mod:`zlib`; the
block-parallel compression runs on a small thread pool because zlib releases
the GIL while it compresses.
"""

from __future__ import annotations

import os
import threading
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import attrs

from edgesync.errors import CorruptDeltaError

__all__ = [
    "CANONICAL",
    "LIBREOFFICE",
    "LIBREOFFICE_BLOCK_SIZE",
    "LIBREOFFICE_DICT_SIZE",
    "Recipe",
    "StreamCheck",
    "deflate",
    "find_recipe",
]

#: Input block size of LibreOffice's ``ThreadedDeflater`` (``MaxBlockSize``).
LIBREOFFICE_BLOCK_SIZE = 128 * 1024
#: Bytes of previous input LibreOffice primes each block's stream with.
LIBREOFFICE_DICT_SIZE = 32 * 1024

# Smallest block of a block-parallel recipe. No known writer uses blocks
# smaller than the deflate window, and a tiny block size in a damaged delta
# would otherwise turn one recompression into millions of zlib streams.
_MIN_BLOCK_SIZE = 32 * 1024
_MAX_BLOCK_SIZE = 1 << 30
# deflateSetDictionary never uses more than the 32 KiB window.
_MAX_DICT_SIZE = 32 * 1024
# Largest LEN of a stored deflate block.
_MAX_STORED = 65535
# zlib keeps MIN_LOOKAHEAD bytes in reserve: matches reach back at most
# (1 << wbits) - 262 bytes (MAX_DIST in deflate.h).
_MIN_LOOKAHEAD = 262
# deflate_slow drops length-3 matches farther back than TOO_FAR.
_TOO_FAR = 4096


def _int_in(low: int, high: int) -> Callable[[object, attrs.Attribute, object], None]:
    """An attrs validator: a plain ``int`` (not ``bool``) within ``[low, high]``."""

    def check(instance: object, attribute: attrs.Attribute, value: object) -> None:
        if type(value) is not int or not low <= value <= high:
            raise ValueError(f"Recipe.{attribute.name} must be an int in [{low}, {high}], "
                             f"not {value!r}")

    return check


def _block_size_valid(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if type(value) is not int or not (value == 0
                                      or _MIN_BLOCK_SIZE <= value <= _MAX_BLOCK_SIZE):
        raise ValueError(f"Recipe.block_size must be 0 or an int in "
                         f"[{_MIN_BLOCK_SIZE}, {_MAX_BLOCK_SIZE}], not {value!r}")


@attrs.frozen
class Recipe:
    """The parameters that reproduce one raw deflate stream.

    :ivar level: zlib compression level, 0-9 (0: stored blocks of 65535 bytes;
        the other parameters do not matter then).
    :ivar memlevel: zlib ``memLevel``, 1-9.
    :ivar strategy: zlib strategy, ``Z_DEFAULT_STRATEGY`` (0) to ``Z_FIXED`` (4).
    :ivar wbits: window bits, 9-15 (the stream is always raw deflate).
    :ivar block_size: 0 for one stream; else the input block size of the
        block-parallel layout (131072 for LibreOffice).
    :ivar dict_size: bytes of preceding input each block's stream is primed
        with (32768 for LibreOffice); 0 when ``block_size`` is 0.
    :raises ValueError: a field is out of range or the fields contradict.
    """

    level: int = attrs.field(validator=_int_in(0, 9))
    memlevel: int = attrs.field(default=8, validator=_int_in(1, 9))
    strategy: int = attrs.field(default=zlib.Z_DEFAULT_STRATEGY,
                                validator=_int_in(zlib.Z_DEFAULT_STRATEGY, zlib.Z_FIXED))
    wbits: int = attrs.field(default=15, validator=_int_in(9, 15))
    block_size: int = attrs.field(default=0, validator=_block_size_valid)
    dict_size: int = attrs.field(default=0, validator=_int_in(0, _MAX_DICT_SIZE))

    def __attrs_post_init__(self) -> None:
        if self.block_size == 0 and self.dict_size != 0:
            raise ValueError("Recipe.dict_size must be 0 when block_size is 0")
        if self.level == 0 and self.block_size != 0:
            # Level 0 is written by this module, not by zlib (see the module
            # docstring); a block-parallel stored layout has no known writer.
            raise ValueError("a level-0 Recipe cannot be block-parallel")

    def to_bytes(self) -> bytes:
        """The recipe's compact, self-delimiting wire form.

        Two bytes, then two LEB128 varints only for block sizes other than
        LibreOffice's::

            byte 0: bits 0-3 level, bits 4-6 strategy, bit 7 "block sizes follow"
            byte 1: bits 0-3 memlevel, bits 4-6 wbits - 9, bit 7 "block-parallel"
            [varint block_size, varint dict_size]

        :returns: the encoding :meth:`from_bytes` reads back.
        """
        blocked = self.block_size != 0
        custom = blocked and (self.block_size, self.dict_size) != (LIBREOFFICE_BLOCK_SIZE,
                                                                   LIBREOFFICE_DICT_SIZE)
        head = bytes((self.level | self.strategy << 4 | custom << 7,
                      self.memlevel | (self.wbits - 9) << 4 | blocked << 7))
        if not custom:
            return head
        return head + _varint(self.block_size) + _varint(self.dict_size)

    @classmethod
    def from_bytes(cls, data: bytes, offset: int = 0) -> tuple[Recipe, int]:
        """Decode a recipe written by :meth:`to_bytes`.

        :param data: bytes holding the encoding at ``offset``.
        :param offset: where the encoding starts.
        :returns: the recipe and the offset just past its encoding.
        :raises CorruptDeltaError: the bytes are truncated, a field is out of
            range, or the encoding is not the canonical one.
        """
        data = memoryview(data).cast("B") if not isinstance(data, bytes) else data
        if not 0 <= offset <= len(data) - 2:
            raise CorruptDeltaError("deflate recipe truncated")
        b0, b1 = data[offset], data[offset + 1]
        offset += 2
        level, strategy, custom = b0 & 15, b0 >> 4 & 7, b0 >> 7
        memlevel, wbits, blocked = b1 & 15, (b1 >> 4 & 7) + 9, b1 >> 7
        if level > 9:
            raise CorruptDeltaError(f"deflate recipe: invalid level {level}")
        if strategy > zlib.Z_FIXED:
            raise CorruptDeltaError(f"deflate recipe: invalid strategy {strategy}")
        if not 1 <= memlevel <= 9:
            raise CorruptDeltaError(f"deflate recipe: invalid memlevel {memlevel}")
        if wbits > 15:
            raise CorruptDeltaError(f"deflate recipe: invalid wbits {wbits}")
        block_size = dict_size = 0
        if custom and not blocked:
            raise CorruptDeltaError("deflate recipe: block sizes without block-parallel flag")
        if blocked and not custom:
            block_size, dict_size = LIBREOFFICE_BLOCK_SIZE, LIBREOFFICE_DICT_SIZE
        elif custom:
            block_size, offset = _read_varint(data, offset)
            dict_size, offset = _read_varint(data, offset)
            if (block_size, dict_size) == (LIBREOFFICE_BLOCK_SIZE, LIBREOFFICE_DICT_SIZE):
                raise CorruptDeltaError("deflate recipe: non-canonical block sizes")
            if not _MIN_BLOCK_SIZE <= block_size <= _MAX_BLOCK_SIZE:
                raise CorruptDeltaError(f"deflate recipe: invalid block size {block_size}")
            if dict_size > _MAX_DICT_SIZE:
                raise CorruptDeltaError(f"deflate recipe: invalid dictionary size {dict_size}")
        if level == 0 and blocked:
            raise CorruptDeltaError("deflate recipe: level 0 cannot be block-parallel")
        return cls(level, memlevel, strategy, wbits, block_size, dict_size), offset


#: What edgesync deflates with when no recipe reproduces the original.
CANONICAL = Recipe(level=6)

#: LibreOffice's block-parallel deflater, which it uses for members over 1,000,000 bytes.
LIBREOFFICE = _LIBREOFFICE = Recipe(6, block_size=LIBREOFFICE_BLOCK_SIZE,
                                    dict_size=LIBREOFFICE_DICT_SIZE)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    # Five 7-bit groups cover _MAX_BLOCK_SIZE; anything longer is damage.
    for i in range(5):
        if offset >= len(data):
            raise CorruptDeltaError("deflate recipe truncated")
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            if byte == 0 and i > 0:
                raise CorruptDeltaError("deflate recipe: non-canonical varint")
            return value, offset
    raise CorruptDeltaError("deflate recipe: varint too long")


# --- compression ---------------------------------------------------------------


def deflate(content: bytes, recipe: Recipe) -> bytes:
    """Compress ``content`` into a raw deflate stream as ``recipe`` says.

    The output depends on the content and the recipe only (given zlib's
    deflate, whose output for fixed parameters has not changed across 1.2.x
    and 1.3.x; another implementation such as zlib-ng would differ, which is
    why rebuilt containers are checked against their hash). Block-parallel
    recipes compress their blocks on a thread pool and join them in order.

    :param content: the uncompressed bytes (any bytes-like object).
    :param recipe: the parameters, e.g. from :func:`find_recipe`.
    :returns: the raw deflate stream (no zlib or gzip wrapper).
    """
    view = _bytes_view(content)
    if recipe.level == 0:
        return _stored(view)
    if recipe.block_size == 0 or len(view) <= recipe.block_size:
        compressor = _compressor(recipe)
        return compressor.compress(view) + compressor.flush(zlib.Z_FINISH)
    starts = range(0, len(view), recipe.block_size)
    pool = _executor()
    if pool is None:
        return b"".join(_compress_block(view, start, recipe) for start in starts)
    return b"".join(pool.map(lambda start: _compress_block(view, start, recipe), starts))


def _bytes_view(data: bytes) -> memoryview:
    view = memoryview(data)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def _compressor(recipe: Recipe, zdict: memoryview | None = None):
    if zdict is None:
        return zlib.compressobj(recipe.level, zlib.DEFLATED, -recipe.wbits, recipe.memlevel,
                                recipe.strategy)
    return zlib.compressobj(recipe.level, zlib.DEFLATED, -recipe.wbits, recipe.memlevel,
                            recipe.strategy, zdict=zdict)


def _compress_block(view: memoryview, start: int, recipe: Recipe) -> bytes:
    """One block of the block-parallel layout, as its own primed stream."""
    stop = start + recipe.block_size
    primer = max(0, start - recipe.dict_size)
    compressor = _compressor(recipe, view[primer:start] if primer < start else None)
    # Z_SYNC_FLUSH is what LibreOffice uses; as each block's stream ends here,
    # Z_FULL_FLUSH would write the same bytes.
    mode = zlib.Z_FINISH if stop >= len(view) else zlib.Z_SYNC_FLUSH
    return compressor.compress(view[start:stop]) + compressor.flush(mode)


def _stored(view: memoryview) -> bytes:
    """Level 0: stored blocks of 65535 bytes, as zlib writes them in one call."""
    if not view:
        return b"\x01\x00\x00\xff\xff"
    parts: list[bytes | memoryview] = []
    for start in range(0, len(view), _MAX_STORED):
        chunk = view[start:start + _MAX_STORED]
        size = len(chunk)
        final = start + _MAX_STORED >= len(view)
        parts.append(bytes((final, size & 0xFF, size >> 8, ~size & 0xFF, ~size >> 8 & 0xFF)))
        parts.append(chunk)
    return b"".join(parts)


def _stored_size(length: int) -> int:
    return length + 5 * max(1, -(-length // _MAX_STORED))


# The pool is shared by every call and created on first use. Its workers are
# ordinary (non-daemon) threads, but they only ever run one block compression
# (milliseconds), so the interpreter's exit-time join returns at once.
_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_workers = 0


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _executor() -> ThreadPoolExecutor | None:
    """The shared pool, or None on one CPU (threads would only add overhead)."""
    global _pool, _workers
    with _pool_lock:
        if _pool is None:
            _workers = min(_cpu_count(), 8)
            if _workers < 2:
                return None
            _pool = ThreadPoolExecutor(max_workers=_workers,
                                       thread_name_prefix="edgesync-deflate")
        return _pool


def _forget_pool() -> None:
    # A forked child inherits the pool object but not its threads.
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


# --- reading the stream's first compressed block -------------------------------

_LEN_BASE = (3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83,
             99, 115, 131, 163, 195, 227, 258)
_LEN_EXTRA = (0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5,
              0)
_DIST_BASE = (1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769,
              1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577)
_DIST_EXTRA = (0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11,
               12, 12, 13, 13)
_CODE_LENGTH_ORDER = (16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15)
# zlib closes a block when its symbol buffer holds lit_bufsize - 1 symbols,
# lit_bufsize being 1 << (memLevel + 6); no zlib block is longer.
_MAX_ZLIB_BLOCK = (1 << 15) - 1


class _Malformed(Exception):
    """The bytes are not a deflate stream (so no recipe can produce them)."""


def _huffman_table(lengths: list[int]) -> tuple[list[int], int] | None:
    """A one-lookup decoding table: index by the next ``maxlen`` bits (LSB first).

    Entries are ``symbol << 4 | code length``; 0 marks a bit pattern no code
    uses (an incomplete code). None when no symbol has a code.
    """
    maxlen = max(lengths, default=0)
    if maxlen == 0:
        return None
    counts = [0] * 16
    for length in lengths:
        counts[length] += 1
    counts[0] = 0
    code, next_code, left = 0, [0] * 16, 1
    for bits in range(1, 16):
        code = (code + counts[bits - 1]) << 1
        next_code[bits] = code
        left = (left << 1) - counts[bits]
        if left < 0:
            raise _Malformed("over-subscribed Huffman code")
    size = 1 << maxlen
    table = [0] * size
    for symbol, length in enumerate(lengths):
        if length:
            code = next_code[length]
            next_code[length] += 1
            reversed_code = int(format(code, f"0{length}b")[::-1], 2)
            step = 1 << length
            table[reversed_code::step] = [symbol << 4 | length] * (size >> length)
    return table, size - 1


_fixed_tables: tuple[tuple[list[int], int], tuple[list[int], int]] | None = None


def _fixed() -> tuple[tuple[list[int], int], tuple[list[int], int]]:
    """The decoding tables of the fixed Huffman code (RFC 1951, 3.2.6)."""
    global _fixed_tables
    if _fixed_tables is None:
        litlen = _huffman_table([8] * 144 + [9] * 112 + [7] * 24 + [8] * 8)
        dist = _huffman_table([5] * 30)
        assert litlen is not None and dist is not None
        _fixed_tables = litlen, dist
    return _fixed_tables


# How a block ended: holding all the symbols zlib's buffer takes, as the
# stream's last block, or followed by the empty stored block of a flush.
_FULL, _FINAL, _FLUSH = "full", "final", "flush"


@attrs.frozen
class _Probe:
    """What the first blocks of a stream say about the zlib call that wrote it.

    :ivar stored: LEN of the stream's first block if that is a stored block,
        else None.
    :ivar stored_end: how that stored block ended (``_FULL`` if neither
        final nor flushed).
    :ivar block_type: BTYPE of the first non-stored block; None if all stored.
    :ivar symbols: literals plus matches in that block (capped past zlib's maximum).
    :ivar end: how that block ended.
    :ivar extent: input bytes from the start of the stream to the end of
        that block (of the stream, if all stored).
    :ivar max_dist: the farthest match distance in it (0: no match).
    :ivar min_len: the shortest match length in it (259: no match).
    :ivar far3: it holds a length-3 match farther back than 4096 bytes.
    """

    stored: int | None
    stored_end: str
    block_type: int | None = None
    symbols: int = 0
    end: str = _FINAL
    extent: int = 0
    max_dist: int = 0
    min_len: int = 259
    far3: bool = False


class _BitReader:
    """LSB-first bit reader over a bytes object, refilling 8 bytes at a time."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.bits = 0
        self.count = 0

    def fill(self) -> None:
        """Make at least 64 bits available (zeros past the end)."""
        self.bits |= int.from_bytes(self.data[self.pos:self.pos + 8], "little") << self.count
        self.pos += 8
        self.count += 64

    def read(self, n: int) -> int:
        """The next ``n`` (at most 64) bits as an int, first bit lowest."""
        if self.count < n:
            self.fill()
        value = self.bits & ((1 << n) - 1)
        self.bits >>= n
        self.count -= n
        return value

    def check(self) -> None:
        # Refills past the end read zeros; a stream that needed them is truncated.
        if self.pos * 8 - self.count > len(self.data) * 8:
            raise _Malformed("truncated deflate stream")

    def skip_stored(self) -> int:
        """Read a stored block's header and skip its bytes; returns LEN."""
        self.read(self.count & 7)  # to the byte boundary
        length, nlength = self.read(16), self.read(16)
        if length != nlength ^ 0xFFFF:
            raise _Malformed("stored block length check failed")
        buffered = self.count >> 3
        if length <= buffered:
            self.bits >>= length * 8
            self.count -= length * 8
        else:
            self.pos += length - buffered
            self.bits = self.count = 0
        self.check()
        return length

    def dynamic_tables(self) -> tuple[tuple[list[int], int], tuple[list[int], int] | None]:
        nlit, ndist, nclen = self.read(5) + 257, self.read(5) + 1, self.read(4) + 4
        if nlit > 286 or ndist > 30:
            raise _Malformed("too many length or distance codes")
        clens = [0] * 19
        for index in _CODE_LENGTH_ORDER[:nclen]:
            clens[index] = self.read(3)
        cl = _huffman_table(clens)
        if cl is None:
            raise _Malformed("empty code length code")
        table, mask = cl
        lengths: list[int] = []
        while len(lengths) < nlit + ndist:
            if self.count < 7:  # the longest code length code
                self.fill()
            entry = table[self.bits & mask]
            if not entry:
                raise _Malformed("invalid code length code")
            self.read(entry & 15)
            symbol = entry >> 4
            if symbol < 16:
                lengths.append(symbol)
            elif symbol == 16:
                if not lengths:
                    raise _Malformed("repeat with no previous length")
                lengths.extend([lengths[-1]] * (3 + self.read(2)))
            elif symbol == 17:
                lengths.extend([0] * (3 + self.read(3)))
            else:
                lengths.extend([0] * (11 + self.read(7)))
        if len(lengths) > nlit + ndist:
            raise _Malformed("code lengths overrun")
        if lengths[256] == 0:
            raise _Malformed("no end-of-block code")
        litlen = _huffman_table(lengths[:nlit])
        assert litlen is not None
        return litlen, _huffman_table(lengths[nlit:])

    def scan_block(self, litlen: tuple[list[int], int],
                   dist: tuple[list[int], int] | None) -> tuple[int, int, int, int, bool]:
        """Decode one block; returns (symbols, bytes, max dist, min len, far3).

        Stops counting (and returns early) once the block is longer than any
        zlib block can be.
        """
        table, mask = litlen
        dtable, dmask = dist if dist is not None else ((), 0)
        data, pos, bits, count = self.data, self.pos, self.bits, self.count
        symbols, matched, max_dist, min_len, far3 = 0, 0, 0, 259, False
        lbase, lextra, dbase, dextra = _LEN_BASE, _LEN_EXTRA, _DIST_BASE, _DIST_EXTRA
        while symbols <= _MAX_ZLIB_BLOCK:
            if count < 48:  # a length, its extra bits, a distance and its extra bits
                bits |= int.from_bytes(data[pos:pos + 8], "little") << count
                pos += 8
                count += 64
            entry = table[bits & mask]
            if not entry:
                raise _Malformed("invalid literal/length code")
            length = entry & 15
            bits >>= length
            count -= length
            symbol = entry >> 4
            if symbol < 256:
                symbols += 1
                continue
            if symbol == 256:
                break
            symbol -= 257
            if symbol >= 29 or not dtable:
                raise _Malformed("invalid length symbol")
            extra = lextra[symbol]
            length = lbase[symbol] + (bits & ((1 << extra) - 1))
            bits >>= extra
            count -= extra
            entry = dtable[bits & dmask]
            if not entry or entry >> 4 >= 30:
                raise _Malformed("invalid distance code")
            bits >>= entry & 15
            count -= entry & 15
            code = entry >> 4
            extra = dextra[code]
            distance = dbase[code] + (bits & ((1 << extra) - 1))
            bits >>= extra
            count -= extra
            symbols += 1
            matched += length - 1
            if distance > max_dist:
                max_dist = distance
            if length < min_len:
                min_len = length
            if length == 3 and distance > _TOO_FAR:
                far3 = True
        self.pos, self.bits, self.count = pos, bits, count
        self.check()
        return symbols, symbols + matched, max_dist, min_len, far3


def _probe(raw: bytes) -> _Probe:
    """Decode up to the end of the first compressed block of ``raw``.

    :raises _Malformed: ``raw`` is not a valid deflate stream there.
    """
    reader = _BitReader(raw)
    stored: int | None = None
    stored_end = _FULL
    extent = 0
    while True:
        final, block_type = reader.read(1), reader.read(2)
        if block_type == 3:
            raise _Malformed("reserved block type")
        if block_type == 0:
            length = reader.skip_stored()
            if extent == 0 and stored is None:
                stored = length
                stored_end = _FINAL if final else _FLUSH if _flush_follows(reader) else _FULL
            extent += length
            if final:
                return _Probe(stored, stored_end, extent=extent)
            continue
        litlen, dist = _fixed() if block_type == 1 else reader.dynamic_tables()
        symbols, covered, max_dist, min_len, far3 = reader.scan_block(litlen, dist)
        if final:
            end = _FINAL
        elif symbols <= _MAX_ZLIB_BLOCK and _flush_follows(reader):
            end = _FLUSH
        else:
            end = _FULL
        return _Probe(stored, stored_end, block_type, symbols, end, extent + covered, max_dist,
                      min_len, far3)


def _flush_follows(reader: _BitReader) -> bool:
    """Whether the next block is the empty stored block a flush writes.

    Reads from a copy, so the caller's position is kept.
    """
    peek = _BitReader(reader.data)
    peek.pos, peek.bits, peek.count = reader.pos, reader.bits, reader.count
    try:
        return peek.read(3) == 0 and peek.skip_stored() == 0
    except _Malformed:
        return False


# --- the search ----------------------------------------------------------------

# Levels in the order writers use them: zlib's default, the maximum, the fastest.
_LEVELS = (6, 9, 1, 5, 7, 8, 4, 3, 2)
_MEMLEVELS = (8, 9, 7, 6, 5, 4, 3, 2, 1)
_STRATEGIES = (zlib.Z_DEFAULT_STRATEGY, zlib.Z_FILTERED, zlib.Z_FIXED, zlib.Z_RLE,
               zlib.Z_HUFFMAN_ONLY)
# The block-parallel layout is tried before the single stream above this
# size: LibreOffice's ZipPackageStream uses ThreadedDeflater for streams
# larger than 1000000 bytes.
_BLOCKS_FIRST = 1_000_000
# Input fed to the first, cheap check of a candidate, then doubled up to the
# largest chunk: early chunks reject wrong candidates, large ones keep the
# survivor's per-call overhead low.
_FIRST_CHUNK = 4 * 1024
_MAX_CHUNK = 1 << 20
# Input bytes the unlikely candidates may spend in all (checked before each
# starts, so a matching candidate always finishes): about 50-100 ms of zlib.
# Bytes rather than seconds keep the answer the same on every machine.
_BUDGET = 4 << 20
# zlib's end of a sync flush: an empty stored block.
_SYNC_MARKER = b"\x00\x00\xff\xff"


def find_recipe(raw: bytes, content: bytes, *, hint: Recipe | None = None) -> Recipe | None:
    """Find parameters with which :func:`deflate` reproduces ``raw`` exactly.

    Candidates are tried from the most likely (``hint``, zlib level 6, the
    LibreOffice block-parallel layout) to the least, and each is verified
    incrementally: content is fed in growing chunks and the output compared
    with ``raw`` as it appears, so a wrong candidate usually costs one deflate
    block of work. The first compressed block of ``raw`` is decoded once to
    rule out parameters that cannot have produced it (its length in symbols
    pins zlib's memLevel; its matches bound the window and exclude
    strategies); streams from encoders other than zlib fail there at once.
    The unlikely candidates (other than zlib's defaults at some level) share
    a fixed work budget, so parameters nobody uses may go unfound in large
    members.

    :param raw: the member's raw deflate stream, as stored in the ZIP.
    :param content: the member's uncompressed content.
    :param hint: a recipe that reproduced another member of the same archive;
        tried first.
    :returns: a recipe with ``deflate(content, recipe) == raw``, or None.
    """
    search = _Search(raw, content)
    tried: set[Recipe] = set()

    def attempt(recipe: Recipe) -> bool:
        if recipe in tried:
            return False
        tried.add(recipe)
        return search.matches(recipe)

    size = len(search.content)
    if size > _BLOCKS_FIRST:
        likely = [_LIBREOFFICE, CANONICAL]
    elif size > LIBREOFFICE_BLOCK_SIZE:
        likely = [CANONICAL, _LIBREOFFICE]
    else:
        likely = [CANONICAL]
    if hint is not None:
        likely.insert(0, hint)
    for recipe in likely:
        if attempt(recipe):
            return recipe
    try:
        probe = _probe(search.raw)
    except _Malformed:
        return None
    if probe.end == _FINAL and probe.extent != size:
        return None  # the stream ends before or after the content does
    if probe.stored is not None and attempt(Recipe(0)):
        return Recipe(0)
    budget: int | None = None
    for recipe, exempt in _candidates(search, probe):
        if not exempt:
            if budget is None:
                budget = search.spent + _BUDGET
            elif search.spent > budget:
                return None
        if attempt(recipe):
            return recipe
    return None


def _candidates(search: _Search, probe: _Probe) -> Iterator[tuple[Recipe, bool]]:
    """The recipes that could have written ``raw``, likeliest first.

    Each comes with a flag, True for the few likely ones (zlib's defaults at
    any level), which the work budget does not limit: rejecting one costs
    about one deflate block of input.
    """
    size = len(search.content)
    # What writers use: zlib's defaults, at any level, with memLevel 8 or 9.
    for level in _LEVELS:
        for memlevel in (8, 9):
            recipe = Recipe(level, memlevel)
            if _plausible(recipe, probe, size):
                yield recipe, True
    if size > LIBREOFFICE_BLOCK_SIZE and _SYNC_MARKER in search.raw:
        # A flush marker: perhaps the same block-parallel writer at another level.
        for level in _LEVELS:
            recipe = attrs.evolve(_LIBREOFFICE, level=level)
            if _plausible(recipe, probe, size):
                yield recipe, True
    for strategy in _strategy_order(probe):
        for wbits in _wbits_order(probe, size):
            for memlevel in _memlevel_order(probe):
                for level in _LEVELS:
                    if strategy in (zlib.Z_RLE, zlib.Z_HUFFMAN_ONLY) and level != 6:
                        continue  # these two strategies ignore the level
                    if strategy == zlib.Z_FILTERED and level < 4:
                        continue  # levels 1-3 ignore Z_FILTERED
                    recipe = Recipe(level, memlevel, strategy, wbits)
                    if _plausible(recipe, probe, size):
                        yield recipe, False


def _max_dist(wbits: int) -> int:
    return (1 << wbits) - _MIN_LOOKAHEAD


def _wbits_order(probe: _Probe, size: int) -> list[int]:
    """15 first, then upwards from the smallest window the matches allow.

    A stream whose matches never reach far back in a long input was most
    likely written with the smallest window that holds them. With no matches
    to go by, larger windows are the likelier. Windows holding all of the
    input behave like the largest one and are left out.
    """
    if probe.block_type is None:
        order = range(14, 8, -1)
    else:
        smallest = next(w for w in range(9, 16) if _max_dist(w) >= probe.max_dist or w == 15)
        order = range(smallest, 15)
    return [15] + [wbits for wbits in order if size > _max_dist(wbits)]


def _memlevel_order(probe: _Probe) -> tuple[int, ...]:
    """memLevels, likeliest first.

    A stored block zlib wrote holds at least lit_bufsize - 1 input bytes, and
    about that many when the input is incompressible: try the largest
    memLevel it can hold first.
    """
    if probe.stored is not None and probe.stored_end == _FULL:
        fits = sorted((m for m in _MEMLEVELS if (1 << (m + 6)) - 1 <= probe.stored),
                      reverse=True)
        return (*fits, *(m for m in _MEMLEVELS if m not in fits))
    return _MEMLEVELS


def _strategy_order(probe: _Probe) -> list[int]:
    """Strategies, the ones the first compressed block looks like first."""
    if probe.block_type is None:
        # All stored. A first block of exactly lit_bufsize - 1 bytes held no
        # match: cheap to check the strategies that never match first.
        no_match = probe.stored is not None and (probe.stored + 1) & probe.stored == 0
        likely = [zlib.Z_HUFFMAN_ONLY, zlib.Z_RLE] if no_match else [zlib.Z_DEFAULT_STRATEGY]
    elif probe.block_type == 1 and (probe.end == _FULL or probe.symbols >= 1024):
        # zlib rarely codes a long block with the fixed code unless told to.
        likely = [zlib.Z_FIXED]
    elif probe.max_dist == 0:
        # No match at all: Huffman only, or run-length coding without runs.
        likely = [zlib.Z_HUFFMAN_ONLY, zlib.Z_RLE]
    elif probe.max_dist == 1:
        likely = [zlib.Z_RLE]
    elif probe.min_len > 5:
        likely = [zlib.Z_FILTERED]
    else:
        likely = [zlib.Z_DEFAULT_STRATEGY]
    return likely + [strategy for strategy in _STRATEGIES if strategy not in likely]


def _plausible(recipe: Recipe, probe: _Probe, size: int) -> bool:
    """Whether zlib with ``recipe`` could have written the probed blocks."""
    if recipe.level == 0:
        return probe.block_type is None
    # Within one zlib stream, an empty stored block only comes from a flush:
    # the end of a block of the block-parallel layout.
    block_end = recipe.block_size if recipe.block_size and size > recipe.block_size else None
    # zlib ends a block when it holds lit_bufsize - 1 symbols, unless the
    # input or a flush ends first.
    full = (1 << (recipe.memlevel + 6)) - 1
    if probe.end == _FINAL and block_end is not None:
        return False  # the block-parallel layout flushes before its last block
    if probe.stored is not None:
        if probe.stored_end == _FLUSH and probe.stored != block_end:
            return False
        # A stored block holds the input of its symbols: a byte per literal,
        # 3-258 per match. And zlib stores a block only if coding it takes as
        # many bytes: at most 48 bits a symbol, plus the trees.
        extra = probe.stored - full
        if probe.stored_end == _FULL and (extra < 0 or extra == 1):
            return False
        if probe.stored > 6 * full + 1024:
            return False
        if extra and probe.stored_end == _FULL and recipe.strategy == zlib.Z_HUFFMAN_ONLY:
            return False
    if probe.block_type is None:
        return True
    if probe.symbols > full or (probe.end == _FULL and probe.symbols != full):
        return False
    if probe.end == _FLUSH and probe.extent != block_end:
        return False
    if probe.max_dist > _max_dist(recipe.wbits):
        return False
    strategy = recipe.strategy
    if strategy == zlib.Z_HUFFMAN_ONLY:
        return probe.max_dist == 0
    if strategy == zlib.Z_RLE:
        return probe.max_dist <= 1
    if strategy == zlib.Z_FIXED and probe.block_type != 1:
        return False
    if strategy == zlib.Z_FILTERED and probe.min_len <= 5:
        return False
    # deflate_slow (levels 4-9) drops far length-3 matches; deflate_fast does not.
    return not (recipe.level >= 4 and probe.far3)


class _Search:
    """One member's raw stream and content, and the work spent on candidates."""

    def __init__(self, raw: bytes, content: bytes) -> None:
        self.raw = raw if isinstance(raw, bytes) else bytes(raw)
        self.content = _bytes_view(content)
        self.spent = 0

    def matches(self, recipe: Recipe) -> bool:
        """Whether ``deflate(content, recipe) == raw``, stopping at the first difference."""
        if recipe.level == 0:
            size = len(self.content)
            if len(self.raw) != _stored_size(size) or self.raw[0] & 6:
                return False
            self.spent += size
            return _stored(self.content) == self.raw
        if recipe.block_size and len(self.content) > recipe.block_size:
            return self._matches_blocks(recipe)
        return self._matches_stream(recipe)

    def _matches_stream(self, recipe: Recipe) -> bool:
        raw, view = self.raw, self.content
        compressor = _compressor(recipe)
        out_pos = in_pos = 0
        chunk = _FIRST_CHUNK
        while in_pos < len(view):
            output = compressor.compress(view[in_pos:in_pos + chunk])
            self.spent += min(chunk, len(view) - in_pos)
            in_pos += chunk
            chunk = min(chunk * 2, _MAX_CHUNK)
            if output:
                if not raw.startswith(output, out_pos):
                    return False
                out_pos += len(output)
        output = compressor.flush(zlib.Z_FINISH)
        return out_pos + len(output) == len(raw) and raw.startswith(output, out_pos)

    def _matches_blocks(self, recipe: Recipe) -> bool:
        raw, view = self.raw, self.content
        # The first block alone, here: a wrong candidate almost always fails in it.
        output = _compress_block(view, 0, recipe)
        self.spent += recipe.block_size
        if not raw.startswith(output):
            return False
        out_pos = len(output)
        starts = iter(range(recipe.block_size, len(view), recipe.block_size))
        pool = _executor()
        if pool is None:
            for start in starts:
                output = _compress_block(view, start, recipe)
                self.spent += min(recipe.block_size, len(view) - start)
                if not raw.startswith(output, out_pos):
                    return False
                out_pos += len(output)
            return out_pos == len(raw)
        # The rest on the pool, a few blocks ahead of the comparison, so a
        # late mismatch wastes little work and memory stays bounded.
        pending: deque[tuple[int, Future[bytes]]] = deque()
        ahead = 2 * _workers

        def submit() -> None:
            start = next(starts, None)
            if start is not None:
                pending.append((start, pool.submit(_compress_block, view, start, recipe)))

        for _ in range(ahead):
            submit()
        try:
            while pending:
                start, future = pending.popleft()
                output = future.result()
                self.spent += min(recipe.block_size, len(view) - start)
                if not raw.startswith(output, out_pos):
                    return False
                out_pos += len(output)
                submit()
        finally:
            for _, future in pending:
                future.cancel()
        return out_pos == len(raw)


# --- checking a recipe on content that arrives in pieces -------------------------------


class StreamCheck:
    """Finds which of a few recipes reproduce ``raw`` while the content is fed piece by piece.

    :func:`find_recipe` needs the whole content; this never holds more than a
    deflate block of it, for members too large to keep two copies of in
    memory. It only tries the recipes it is given (the common ones), dropping
    each at its first differing output byte.

    :param raw: the member's raw deflate stream.
    :param candidates: recipes to try, most likely first.
    """

    def __init__(self, raw: bytes, candidates: list[Recipe]) -> None:
        self._raw = memoryview(raw)
        unique: list[Recipe] = []
        for recipe in candidates:
            if recipe not in unique and recipe.level != 0:
                unique.append(recipe)
        self._checks = [_BlockCheck(recipe) if recipe.block_size else _OneCheck(recipe)
                        for recipe in unique]

    def feed(self, piece: bytes) -> None:
        """The next piece of content."""
        self._checks = [c for c in self._checks if c.feed(piece, self._raw)]

    def finish(self) -> Recipe | None:
        """The first candidate that reproduced the whole stream, or None."""
        for check in self._checks:
            if check.finish(self._raw):
                return check.recipe
        return None


class _OneCheck:
    """One candidate recipe without blocks: one compressor, output compared as it comes."""

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self._compressor = _compressor(recipe)
        self._pos = 0

    def _matches(self, out: bytes, raw: memoryview) -> bool:
        end = self._pos + len(out)
        if raw[self._pos:end] != out:
            return False
        self._pos = end
        return True

    def feed(self, piece: bytes, raw: memoryview) -> bool:
        return self._matches(self._compressor.compress(piece), raw)

    def finish(self, raw: memoryview) -> bool:
        return self._matches(self._compressor.flush(zlib.Z_FINISH), raw) and \
            self._pos == len(raw)


class _BlockCheck:
    """One block-parallel candidate: each block compressed once it is known not to be last."""

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self._primer = b""          # the dict_size bytes before the pending block
        self._pending = bytearray()  # input not yet compressed
        self._pos = 0

    def _block(self, block: bytes, last: bool, raw: memoryview) -> bool:
        zdict = self._primer[-self.recipe.dict_size:] if self._primer else None
        compressor = _compressor(self.recipe, memoryview(zdict) if zdict else None)
        out = compressor.compress(block) + compressor.flush(
            zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)
        end = self._pos + len(out)
        if raw[self._pos:end] != out:
            return False
        self._pos = end
        self._primer = (self._primer + block)[-self.recipe.dict_size:]
        return True

    def feed(self, piece: bytes, raw: memoryview) -> bool:
        self._pending += piece
        size = self.recipe.block_size
        # Keep at least one byte back: a block is the last one only if nothing follows.
        while len(self._pending) > size:
            block = bytes(self._pending[:size])
            del self._pending[:size]
            if not self._block(block, False, raw):
                return False
        return True

    def finish(self, raw: memoryview) -> bool:
        return self._block(bytes(self._pending), True, raw) and self._pos == len(raw)
