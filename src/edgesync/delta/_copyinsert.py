"""The copy/insert codec: one section that turns each base into its new content.

This module owns the ``copyinsert`` section of an edgesync delta: the bytes that
rebuild a list of new contents from their bases (the changed members of an
office container, or the one content of a plain file). It knows nothing of
containers, hashes or compression: the caller compresses the whole payload as
one raw-deflate stream, so :func:`encode` emits uncompressed bytes laid out for
deflate, and :func:`decode` reads them back.

Format in brief (``docs/delta-format.md`` is the normative text):

* a header (pair count, a mask of the non-empty columns, their lengths), then
  nine *columns*, each holding one kind of value for all pairs together --
  opcodes, lengths, literal bytes, fix counts, fix gaps, fix lengths, offsets,
  numeric deltas, GUID bits -- because deflate compresses a run of like
  values far better than interleaved records (and similar edits in dozens of
  members then compress together);
* each pair is a run of instructions ended by ``END``: ``ADD`` (literal
  bytes), ``COPY`` (a slice of the base, from a cursor that follows the copies,
  optionally with *fixes*), ``FAR`` (a slice from anywhere, cursor unmoved) and
  ``RULE`` (a renumbering rule for the pair's copies);
* a fix is a small edit of a copy, in base coordinates: a decimal number plus a
  delta (located by counting digit runs, so that renumbered rows repeat the
  same fix bytes, and may reuse the previous fix's delta), a GUID replaced by
  another (its 122 random bits, for the field ids LibreOffice redraws on every
  save), or bytes replaced by literals or by other base bytes;
* a rule says "numbers after this context, from this value on, move by this
  much", which is what inserting a row or a shared string does to a sheet;
* the literal column may be deflated with 32 KiB of a base as dictionary,
  which is how inserted text gets to reuse the document's words.

The decoder is the hot path on the edge: it uses only the standard library,
slices of the base and ``re`` searches, checks every length before it copies,
and raises only :class:`~edgesync.errors.CorruptDeltaError` and
:class:`~edgesync.errors.LimitExceededError`.
"""

from __future__ import annotations

import re
import zlib
from bisect import bisect_right
from collections.abc import Sequence

from edgesync.errors import CorruptDeltaError, LimitExceededError

__all__ = ["decode", "encode", "encode_pair", "target_sizes"]

# --- the format ----------------------------------------------------------------

# Columns, in the order they follow the header (the order makes the mask of a
# small delta fit in one byte).
_OPS, _LENS, _LITS, _NFIX, _FGAP, _FLEN, _FVAL, _OFFS, _GUIDS = range(9)
_NCOLS = 9
# Mask bit: the LITS column is deflated with a dictionary taken from a base.
_PACKED = 1 << 8
# The mask bit of each column (GUIDS came after PACKED).
_COLUMN_BITS = (1, 2, 4, 8, 16, 32, 64, 128, 512)

# Opcodes (column OPS). A copy opcode is _COPY plus flag bits: _AT (an offset
# from the cursor follows in OFFS), _REST (no length: it copies to the end of the
# base) and _FIXED (a fix count follows in NFIX).
_END, _ADD, _FAR, _RULE = 0, 1, 2, 3
_COPY, _AT, _REST, _FIXED = 0x10, 0x01, 0x02, 0x04

# Fix kinds: the low three bits of a fix's FGAP value (the gap is the rest).
_NUM_RUNS, _NUM_AT, _SUB, _REPL, _MOVE, _UUID, _NUM_AGAIN = range(7)

# A GUID: what a GUID fix replaces. Its new value is 16 bytes of LITS or, for
# a random (version 4) GUID, its 122 random bits in the GUIDS column: deflate
# keeps both near their entropy (as hex text a GUID costs ~22 bytes).
_GUID = re.compile(rb"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_GUID_SIZE = 36
_GUID_BYTES = 16
_GUID_BITS = 122
# GUID fix flags, the low bits of its gap: lowercase hex; value in GUIDS.
_LOWER, _V4 = 1, 2

# A digit run: what a numeric fix edits. ASCII digits only, whatever the locale.
_DIGITS = re.compile(rb"[0-9]+")

# Longest digit run a numeric fix may edit: keeps int() cheap and bounded.
_MAX_DIGITS = 19

_MAX_VARINT_BYTES = 10

# Bounds of renumbering rules: rules per pair, context length, steps per rule.
_MAX_RULES = 32
_MAX_CONTEXT = 64
_MAX_STEPS = 1024

# Largest dictionary for a packed LITS column (deflate's window).
_MAX_DICT = 1 << 15


# --- small codecs ----------------------------------------------------------------


def _put_varint(out: bytearray, value: int) -> None:
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _put_sizes(out: bytearray, replaced: int, added: int) -> None:
    """The sizes of a REPL or MOVE fix: one varint for the usual short ones."""
    _put_varint(out, replaced << 4 | min(added, 15))
    if added >= 15:
        _put_varint(out, added - 15)


def _vlen(value: int) -> int:
    """Bytes of the varint of *value*."""
    return max(1, (value.bit_length() + 6) // 7)


def _zigzag(value: int) -> int:
    return value << 1 if value >= 0 else ((-value) << 1) - 1


def _unzigzag(value: int) -> int:
    return (value >> 1) ^ -(value & 1)


def _get_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """The varint at *pos* and the position after it."""
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise CorruptDeltaError("copyinsert: truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift >= 7 * _MAX_VARINT_BYTES:
            raise CorruptDeltaError("copyinsert: varint too long")


def _read_varints(buf: bytes) -> list[int]:
    """All the LEB128 varints of a column, in order."""
    if not buf:
        return []
    if max(buf) < 0x80:  # the usual case for small columns: every value below 128
        return list(buf)
    values = []
    append = values.append
    value = shift = 0
    for byte in buf:
        value |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            if shift >= 7 * _MAX_VARINT_BYTES:
                raise CorruptDeltaError("copyinsert: varint too long")
        else:
            append(value)
            value = shift = 0
    if shift:
        raise CorruptDeltaError("copyinsert: truncated varint")
    return values


def _varint_sizes(buf: bytes) -> list[int]:
    """The byte length of each varint of a column (for :func:`target_sizes`)."""
    sizes = []
    size = 0
    for byte in buf:
        size += 1
        if not byte & 0x80:
            sizes.append(size)
            size = 0
        elif size >= _MAX_VARINT_BYTES:
            raise CorruptDeltaError("copyinsert: varint too long")
    if size:
        raise CorruptDeltaError("copyinsert: truncated varint")
    return sizes


def _split(section: bytes) -> tuple[int, int, int, list[bytes]]:
    """Parse the header: pair count, mask, header length, and the columns."""
    if not isinstance(section, (bytes, bytearray, memoryview)):
        raise CorruptDeltaError("copyinsert: section is not bytes")
    section = bytes(section)
    npairs, pos = _get_varint(section, 0)
    mask, pos = _get_varint(section, pos)
    if mask >> 10 or mask == _PACKED or (mask & _PACKED and not mask & 1 << _LITS):
        raise CorruptDeltaError("copyinsert: bad column mask")
    present = [c for c in range(_NCOLS) if mask & _COLUMN_BITS[c]]
    lengths = []
    for _ in present[:-1]:
        length, pos = _get_varint(section, pos)
        lengths.append(length)
    header = pos
    columns = [b""] * _NCOLS
    for col, length in zip(present, lengths):
        if length == 0 or pos + length > len(section):
            raise CorruptDeltaError("copyinsert: bad column length")
        columns[col] = section[pos : pos + length]
        pos += length
    if present:
        if pos >= len(section):
            raise CorruptDeltaError("copyinsert: empty last column")
        columns[present[-1]] = section[pos:]
    elif pos != len(section):
        raise CorruptDeltaError("copyinsert: trailing bytes")
    if npairs > len(columns[_OPS]):  # every pair has its END opcode
        raise CorruptDeltaError("copyinsert: more pairs than opcodes")
    return npairs, mask, header, columns


def _unpack_literals(column: bytes, bases: Sequence[bytes], max_output: int) -> bytes:
    """Inflate a packed LITS column: ``pair, start, size, length, deflate data``."""
    pair, pos = _get_varint(column, 0)
    start, pos = _get_varint(column, pos)
    size, pos = _get_varint(column, pos)
    length, pos = _get_varint(column, pos)
    if pair >= len(bases) or size > _MAX_DICT or start + size > len(bases[pair]) or not length:
        raise CorruptDeltaError("copyinsert: bad literal dictionary")
    # Every literal byte is an output byte, but for the rule contexts.
    if length > max_output + _MAX_RULES * _MAX_CONTEXT * len(bases):
        raise _limit(max_output)
    zdict = bytes(memoryview(bases[pair])[start : start + size])
    try:
        inflater = zlib.decompressobj(-15, zdict=zdict) if zdict else zlib.decompressobj(-15)
        data = inflater.decompress(column[pos:], length)  # never more than length
        if not inflater.eof and inflater.decompress(inflater.unconsumed_tail, 1):
            raise CorruptDeltaError("copyinsert: literal stream too long")
    except zlib.error:
        raise CorruptDeltaError("copyinsert: bad literal stream") from None
    if len(data) != length or not inflater.eof or inflater.unused_data:
        raise CorruptDeltaError("copyinsert: bad literal stream")
    return data


# --- decoding ---------------------------------------------------------------------


def decode(section: bytes, bases: Sequence[bytes], *, max_output: int) -> list[bytes]:
    """Rebuild the new contents from their bases.

    :param section: the bytes :func:`encode` made (uncompressed).
    :param bases: the base of each pair, in the order given to :func:`encode`.
    :param max_output: the most bytes the new contents may total.
    :returns: the new contents, in order.
    :raises CorruptDeltaError: the section is malformed or truncated, does not
        fit the bases, or is for another number of pairs.
    :raises LimitExceededError: the new contents would total more than
        *max_output* bytes (raised before they are produced; ``limit`` is
        ``"max_output"``).
    """
    npairs, mask, _, cols = _split(section)
    if npairs != len(bases):
        raise CorruptDeltaError(
            f"copyinsert: section has {npairs} pairs, {len(bases)} bases given"
        )
    ops = cols[_OPS]
    lits = cols[_LITS]
    if mask & _PACKED:
        lits = _unpack_literals(lits, bases, max_output)
    lens, offs, nfix, fgap, fval, flen = (
        _read_varints(cols[c]) for c in (_LENS, _OFFS, _NFIX, _FGAP, _FVAL, _FLEN)
    )
    budget = max_output
    search = _DIGITS.search
    match = _DIGITS.match
    guid = _GUID.search
    delta = 0  # of the last numeric fix, which NUM_AGAIN repeats
    guids = cols[_GUIDS]
    gbit = 0  # bits of GUIDS read
    # Read positions in the columns.
    oi = li = ni = fi = gi = vi = xi = lit = 0
    results: list[bytes] = []
    try:
        for base in bases:
            view = memoryview(base)
            nbase = len(view)
            out = bytearray()
            cursor = 0
            rules: list[tuple[list[int], list[int]]] = []
            contexts: list[bytes] = []
            pattern = None  # the rules' regex, once they are all read
            while True:
                op = ops[oi]
                oi += 1
                if op == _END:
                    break
                if op == _RULE:
                    size = lens[li]
                    steps = lens[li + 1]
                    li += 2
                    context = bytes(lits[lit : lit + size])
                    lit += size
                    if (
                        not 0 < size <= _MAX_CONTEXT or len(context) != size
                        or not 0 < steps <= _MAX_STEPS or len(rules) >= _MAX_RULES
                        or _DIGITS.search(context)
                    ):
                        raise CorruptDeltaError("copyinsert: bad renumbering rule")
                    thresholds, deltas = [], []
                    value = -1
                    for _ in range(steps):
                        value += lens[li] + 1
                        li += 1
                        thresholds.append(value)
                        deltas.append(_unzigzag(fval[vi]))
                        vi += 1
                    contexts.append(context)
                    rules.append((thresholds, deltas))
                    pattern = re.compile(
                        b"|".join(re.escape(c) + b"([0-9]+)" for c in contexts)
                    )
                    continue
                if op == _ADD:
                    n = lens[li]
                    li += 1
                    if lit + n > len(lits):
                        raise CorruptDeltaError("copyinsert: literal overruns its column")
                    if n > budget:
                        raise _limit(max_output)
                    out += lits[lit : lit + n]
                    lit += n
                    budget -= n
                    continue
                if op == _FAR:
                    n = lens[li]
                    li += 1
                    start = cursor + _unzigzag(offs[ni])
                    ni += 1
                    if start < 0 or start + n > nbase:
                        raise CorruptDeltaError("copyinsert: copy outside its base")
                    if n > budget:
                        raise _limit(max_output)
                    out += view[start : start + n]
                    budget -= n
                    continue
                if op & ~(_AT | _REST | _FIXED) != _COPY:
                    raise CorruptDeltaError(f"copyinsert: unknown opcode {op}")
                if op & _AT:
                    cursor += _unzigzag(offs[ni])
                    ni += 1
                    if cursor < 0 or cursor > nbase:
                        raise CorruptDeltaError("copyinsert: copy outside its base")
                if op & _REST:
                    end = nbase
                else:
                    end = cursor + lens[li]
                    li += 1
                    if end > nbase:
                        raise CorruptDeltaError("copyinsert: copy outside its base")
                if not op & _FIXED:
                    if pattern is not None:
                        budget = _remap(out, base, cursor, end, pattern, rules, budget, max_output)
                    elif end - cursor > budget:
                        raise _limit(max_output)
                    else:
                        out += view[cursor:end]
                        budget -= end - cursor
                    cursor = end
                    continue
                pos = cursor  # base bytes before pos are done
                for _ in range(nfix[fi]):
                    gap = fgap[gi]
                    gi += 1
                    kind = gap & 7
                    gap >>= 3
                    if kind <= _NUM_AT or kind == _NUM_AGAIN:
                        if kind != _NUM_AT:
                            at = pos
                            for _ in range(gap):
                                m = search(base, at, end)
                                if m is None:
                                    raise CorruptDeltaError("copyinsert: numeric fix past its copy")
                                at = m.end()
                            m = search(base, at, end)
                        else:
                            m = match(base, pos + gap, end) if pos + gap <= end else None
                        if m is None:
                            raise CorruptDeltaError("copyinsert: numeric fix finds no number")
                        start, stop = m.span()
                        if stop - start > _MAX_DIGITS:
                            raise CorruptDeltaError("copyinsert: numeric fix on a too long number")
                        if kind != _NUM_AGAIN:
                            delta = _unzigzag(fval[vi])
                            vi += 1
                        value = int(m.group()) + delta
                        if value < 0:
                            raise CorruptDeltaError("copyinsert: numeric fix goes negative")
                        piece = b"%d" % value
                    elif kind == _UUID:
                        at = pos
                        for _ in range(gap >> 2):
                            m = guid(base, at, end)
                            if m is None:
                                raise CorruptDeltaError("copyinsert: GUID fix past its copy")
                            at = m.end()
                        m = guid(base, at, end)
                        if m is None:
                            raise CorruptDeltaError("copyinsert: GUID fix finds no GUID")
                        start, stop = m.span()
                        if gap & _V4:
                            first = gbit >> 3
                            gbit += _GUID_BITS
                            last = (gbit + 7) >> 3
                            if last > len(guids):
                                raise CorruptDeltaError("copyinsert: GUID overruns its column")
                            value = int.from_bytes(guids[first:last], "big") >> (-gbit & 7)
                            value = (
                                (value >> 74 & 0xFFFFFFFFFFFF) << 80 | 4 << 76
                                | (value >> 62 & 0xFFF) << 64 | 2 << 62
                                | (value & 0x3FFFFFFFFFFFFFFF)
                            )
                            text = "%032x" % value
                        else:
                            if lit + _GUID_BYTES > len(lits):
                                raise CorruptDeltaError("copyinsert: literal overruns its column")
                            text = lits[lit : lit + _GUID_BYTES].hex()
                            lit += _GUID_BYTES
                        if not gap & _LOWER:
                            text = text.upper()
                        piece = (
                            f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
                        ).encode()
                    else:
                        start = pos + gap
                        if kind == _SUB:
                            added = flen[xi]
                            xi += 1
                            stop = start + added
                        elif kind == _REPL or kind == _MOVE:
                            sizes = flen[xi]
                            xi += 1
                            stop = start + (sizes >> 4)
                            added = sizes & 15
                            if added == 15:
                                added += flen[xi]
                                xi += 1
                        else:
                            raise CorruptDeltaError(f"copyinsert: unknown fix kind {kind}")
                        if stop > end:
                            raise CorruptDeltaError("copyinsert: fix past its copy")
                        if kind == _MOVE:
                            source = start + _unzigzag(fval[vi])
                            vi += 1
                            if source < 0 or source + added > nbase:
                                raise CorruptDeltaError("copyinsert: fix outside its base")
                            piece = view[source : source + added]
                        else:
                            if lit + added > len(lits):
                                raise CorruptDeltaError("copyinsert: literal overruns its column")
                            piece = lits[lit : lit + added]
                            lit += added
                    if pattern is not None:
                        budget = _remap(out, base, pos, start, pattern, rules, budget, max_output)
                    elif start - pos > budget:
                        raise _limit(max_output)
                    else:
                        out += view[pos:start]
                        budget -= start - pos
                    if len(piece) > budget:
                        raise _limit(max_output)
                    out += piece
                    budget -= len(piece)
                    pos = stop
                fi += 1
                if pattern is not None:
                    budget = _remap(out, base, pos, end, pattern, rules, budget, max_output)
                elif end - pos > budget:
                    raise _limit(max_output)
                else:
                    out += view[pos:end]
                    budget -= end - pos
                cursor = end
            results.append(bytes(out))
    except IndexError:
        raise CorruptDeltaError("copyinsert: truncated section") from None
    if (
        oi != len(ops) or li != len(lens) or ni != len(offs) or fi != len(nfix)
        or gi != len(fgap) or vi != len(fval) or xi != len(flen) or lit != len(lits)
        or (gbit + 7) >> 3 != len(guids) or (guids and guids[-1] & ((1 << (-gbit & 7)) - 1))
    ):
        raise CorruptDeltaError("copyinsert: trailing data in a column")
    return results


def _remap(
    out: bytearray, base: bytes, start: int, end: int, pattern: re.Pattern,
    rules: list, budget: int, max_output: int,
) -> int:
    """Append ``base[start:end]`` with the renumbering rules applied; the budget left."""
    view = memoryview(base)
    pos = start
    for m in pattern.finditer(base, start, end):
        group = m.lastindex
        first, stop = m.span(group)
        if stop - first > _MAX_DIGITS:
            continue  # too long to be a number a rule renumbers
        thresholds, deltas = rules[group - 1]
        value = int(m.group(group))
        step = bisect_right(thresholds, value)
        if not step or not deltas[step - 1]:
            continue
        value += deltas[step - 1]
        if value < 0:
            raise CorruptDeltaError("copyinsert: renumbering goes negative")
        piece = b"%d" % value
        if first - pos + len(piece) > budget:
            raise _limit(max_output)
        out += view[pos:first]
        out += piece
        budget -= first - pos + len(piece)
        pos = stop
    if end - pos > budget:
        raise _limit(max_output)
    out += view[pos:end]
    return budget - (end - pos)


def _limit(max_output: int) -> LimitExceededError:
    return LimitExceededError(
        f"copyinsert: output would exceed max_output={max_output} bytes", limit="max_output"
    )


def target_sizes(section: bytes) -> list[int]:
    """How many section bytes each pair accounts for, without its base.

    Every byte of every column belongs to one pair, except that the bytes of a
    packed (dictionary-deflated) literal column are shared out in proportion
    to the literal bytes each pair uses. The header (pair count, mask, column
    lengths, literal dictionary) belongs to no pair.

    :param section: the bytes :func:`encode` made.
    :returns: per pair, the bytes of its opcodes, varints and literals.
    :raises CorruptDeltaError: the section is malformed or truncated.
    """
    npairs, mask, _, cols = _split(section)
    ops = cols[_OPS]
    lit_total = len(cols[_LITS])
    lit_scale = 1.0
    if mask & _PACKED:
        pos = 0
        for _ in range(4):
            value, pos = _get_varint(cols[_LITS], pos)
        lit_total = value
        lit_scale = (len(cols[_LITS]) - pos) / value if value else 0.0
    lens, offs, nfix, fgap, fval, flen = (
        _varint_sizes(cols[c]) for c in (_LENS, _OFFS, _NFIX, _FGAP, _FVAL, _FLEN)
    )
    lensv, nfixv = _read_varints(cols[_LENS]), _read_varints(cols[_NFIX])
    fgapv, flenv = _read_varints(cols[_FGAP]), _read_varints(cols[_FLEN])
    oi = li = ni = fi = gi = vi = xi = lit = bits = 0
    sizes = []
    try:
        for _ in range(npairs):
            size = -((bits + 7) >> 3)  # plus the GUIDS bytes up to the pair's last bit
            used = 0  # literal bytes of this pair
            while True:
                op = ops[oi]
                oi += 1
                size += 1
                if op == _END:
                    break
                if op == _RULE:
                    steps = lensv[li + 1]
                    size += lens[li] + lens[li + 1]
                    used += lensv[li]
                    li += 2
                    for _ in range(steps):
                        size += lens[li] + fval[vi]
                        li += 1
                        vi += 1
                    continue
                if op == _ADD or op == _FAR:
                    size += lens[li]
                    if op == _ADD:
                        used += lensv[li]
                    else:
                        size += offs[ni]
                        ni += 1
                    li += 1
                    continue
                if op & ~(_AT | _REST | _FIXED) != _COPY:
                    raise CorruptDeltaError(f"copyinsert: unknown opcode {op}")
                if op & _AT:
                    size += offs[ni]
                    ni += 1
                if not op & _REST:
                    size += lens[li]
                    li += 1
                if not op & _FIXED:
                    continue
                size += nfix[fi]
                for _ in range(nfixv[fi]):
                    kind = fgapv[gi] & 7
                    size += fgap[gi]
                    gi += 1
                    if kind <= _NUM_AT:
                        size += fval[vi]
                        vi += 1
                    elif kind == _NUM_AGAIN:
                        pass
                    elif kind == _SUB:
                        size += flen[xi]
                        used += flenv[xi]
                        xi += 1
                    elif kind == _REPL or kind == _MOVE:
                        added = flenv[xi] & 15
                        size += flen[xi]
                        xi += 1
                        if added == 15:
                            added += flenv[xi]
                            size += flen[xi]
                            xi += 1
                        if kind == _REPL:
                            used += added
                        else:
                            size += fval[vi]
                            vi += 1
                    elif kind == _UUID:
                        if fgapv[gi - 1] >> 3 & _V4:
                            bits += _GUID_BITS
                        else:
                            used += _GUID_BYTES
                    else:
                        raise CorruptDeltaError(f"copyinsert: unknown fix kind {kind}")
                fi += 1
            lit += used
            sizes.append(size + ((bits + 7) >> 3) + round(used * lit_scale))
    except IndexError:
        raise CorruptDeltaError("copyinsert: truncated section") from None
    if (
        oi != len(ops) or li != len(lens) or ni != len(offs) or fi != len(nfix)
        or gi != len(fgap) or vi != len(fval) or xi != len(flen) or lit != lit_total
        or (bits + 7) >> 3 != len(cols[_GUIDS])
    ):
        raise CorruptDeltaError("copyinsert: trailing data in a column")
    return sizes


# --- encoding ---------------------------------------------------------------------

# A matched stretch must be this long to anchor a copy after a resynchronization.
_MIN_ANCHOR = 24
# ... unless it is farther than _NEAR from where the base should continue:
# then it takes _FAR_ANCHOR bytes, or being the best found by _FALLBACK_AFTER.
_NEAR = 256
_FAR_ANCHOR = 128
_FALLBACK_AFTER = 4096
# Fingerprint length for resynchronization.
_PRINT = 16
# How far (in bytes, each side) a fix may look for the content to line up again.
_FIX_WINDOW = 48
# How many equal bytes confirm that a fix lined the content up again.
_FIX_CONFIRM = 8
# Numeric fixes count digit runs up to this gap; past it they count bytes.
_MAX_RUN_GAP = 128
# Largest slice compared at once while measuring a match (bounds transient memory).
_MAX_STEP = 1 << 20
# Diagonal checks: fingerprint length, search radius, horizon priced, and the
# price of starting a new copy.
_SWITCH_PRINT = 12
_SWITCH_RADIUS = 1 << 16
_SWITCH_HORIZON = 384
_SWITCH_COST = 3.0
_ISDIGIT = bytes(1 if 48 <= c <= 57 else 0 for c in range(256))
_ISHEX = bytes(1 if c in b"0123456789ABCDEFabcdef" else 0 for c in range(256))
_ISALPHA = bytes(1 if chr(c).isascii() and chr(c).isalpha() else 0 for c in range(256))
# Literal runs at least this long are searched for pieces found anywhere in the
# base (an inserted paragraph is mostly phrases the document already has).
_REFINE_MIN = 24
# Renumbering rules: numeric fixes needed before rules are looked for, and the
# most context bytes a rule keys on.
_RULE_MIN_FIXES = 32
_RULE_CONTEXT = 8
_CONTEXT = re.compile(rb"[^0-9]*\Z")
# A literal column this long is tried deflated with a dictionary from its base.
_PACK_MIN = 48
# A section this small is also tried without fixes.
_TINY = 96
_PACK_MAX = 1 << 20
# Replacement bytes at least this long are looked for in the base this near.
_MOVE_MIN = 10
_MOVE_RADIUS = 1 << 16
# Shortest piece worth a far copy, and the fingerprint that finds it.
_FAR_MIN = 16
_FAR_PRINT = 12
_FAR_TRIES = 4
# Where a far-copy search may start: after a separator byte (word starts).
_WORD_START = re.compile(rb"[^0-9A-Za-z\x80-\xff]+")


def _match_forward(a: memoryview, ai: int, b: memoryview, bi: int, limit: int = 1 << 62) -> int:
    """Length of the common prefix of ``a[ai:]`` and ``b[bi:]``, at most *limit*."""
    limit = min(len(a) - ai, len(b) - bi, limit)
    if limit <= 0:
        return 0
    # Most calls end within a few dozen bytes (the next changed number): one
    # XOR of 64 bytes finds that mismatch without a search.
    size = min(64, limit)
    x = int.from_bytes(a[ai : ai + size], "big") ^ int.from_bytes(b[bi : bi + size], "big")
    if x:
        return size - 1 - (x.bit_length() - 1) // 8
    done = size
    step = 256
    while done < limit:
        size = min(step, limit - done)
        if a[ai + done : ai + done + size] != b[bi + done : bi + done + size]:
            lo, hi = done, done + size  # equal before lo; a mismatch before hi
            while hi - lo > 64:
                mid = (lo + hi) >> 1
                if a[ai + lo : ai + mid] == b[bi + lo : bi + mid]:
                    lo = mid
                else:
                    hi = mid
            x = int.from_bytes(a[ai + lo : ai + hi], "big")
            x ^= int.from_bytes(b[bi + lo : bi + hi], "big")
            return hi - 1 - (x.bit_length() - 1) // 8
        done += size
        if step < _MAX_STEP:
            step <<= 1
    return limit


def _match_backward(a: memoryview, ai: int, b: memoryview, bi: int, limit: int) -> int:
    """Length of the common suffix of ``a[:ai]`` and ``b[:bi]``, at most *limit*."""
    limit = min(ai, bi, limit)
    done = 0
    step = 32
    while done < limit:
        size = min(step, limit - done)
        if a[ai - done - size : ai - done] != b[bi - done - size : bi - done]:
            lo, hi = done, done + size
            while hi - lo > 16:
                mid = (lo + hi) >> 1
                if a[ai - mid : ai - lo] == b[bi - mid : bi - lo]:
                    lo = mid
                else:
                    hi = mid
            while lo < hi and a[ai - lo - 1] == b[bi - lo - 1]:
                lo += 1
            return lo
        done += size
        if step < _MAX_STEP:
            step <<= 1
    return limit



class _Columns:
    """The columns being filled, and the emission of one pair's instructions.

    The encoder's instructions are tuples: ``("A", j0, j1)`` literal
    ``new[j0:j1]``; ``("L", data)`` literal bytes; ``("F", start, stop)`` far
    copy of ``base[start:stop]``; ``("C", start, stop, fixes)`` copy of
    ``base[start:stop]`` with fixes sorted by position, each ``("N", s, e,
    delta)`` (number), ``("R", s, e, data)`` (bytes), ``("G", s, e, data)``
    (a GUID replaced by the GUID *data*, as text) or ``("M", s, e, source,
    size)`` (base bytes), all in base coordinates.
    """

    def __init__(self) -> None:
        self.cols = [bytearray() for _ in range(_NCOLS)]
        self.guids = _Bits()
        self.delta = 0  # the delta of the last numeric fix
        # Where literal bytes are used: (pair, base position, count), to pick
        # the dictionary of a packed literal column.
        self.uses: list[tuple[int, int, int]] = []

    def emit_pair(
        self, index: int, base: bytes, new: bytes, rules: list, instructions: list,
        repeated: set = frozenset(),
    ) -> None:
        ops, lens, lits, nfix, fgap, flen, fval, offs, _ = self.cols
        uses = self.uses
        for context, steps in rules:
            ops.append(_RULE)
            _put_varint(lens, len(context))
            _put_varint(lens, len(steps))
            lits += context
            previous = -1
            for threshold, delta in steps:
                _put_varint(lens, threshold - previous - 1)
                _put_varint(fval, _zigzag(delta))
                previous = threshold
        # The start of the next copy after each instruction (None at the end).
        following: list = [None] * len(instructions)
        upcoming = None
        for k in range(len(instructions) - 1, -1, -1):
            following[k] = upcoming
            if instructions[k][0] == "C":
                upcoming = instructions[k][1]
        cursor = 0
        for k, ins in enumerate(instructions):
            if ins[0] == "C" and not ins[3] and ins[1] != cursor and not rules:
                # A short excursion (a row's markup copied from another row)
                # is cheaper as a far copy that leaves the cursor where the
                # next copy continues. (Not with rules: they renumber what
                # copies take, and were checked against these copies.)
                after = following[k]
                if after is not None:
                    _, start, stop, _ = ins
                    size = _vlen(stop - start)
                    as_copy = (0 if stop == len(base) else size) + (
                        _vlen(_zigzag(after - stop)) if after != stop else 0
                    )
                    as_far = size + (_vlen(_zigzag(after - cursor)) if after != cursor else 0)
                    if as_far < as_copy:
                        ins = ("F", start, stop)
            if ins[0] == "A" or ins[0] == "L":
                data = new[ins[1] : ins[2]] if ins[0] == "A" else ins[1]
                ops.append(_ADD)
                _put_varint(lens, len(data))
                lits += data
                uses.append((index, cursor, len(data)))
                continue
            if ins[0] == "F":
                _, start, stop = ins
                ops.append(_FAR)
                _put_varint(lens, stop - start)
                _put_varint(offs, _zigzag(start - cursor))
                continue
            _, start, stop, fixes = ins
            op = _COPY
            if start != cursor:
                op |= _AT
                _put_varint(offs, _zigzag(start - cursor))
            if stop == len(base):
                op |= _REST
            else:
                _put_varint(lens, stop - start)
            if fixes:
                op |= _FIXED
            ops.append(op)
            cursor = stop
            if not fixes:
                continue
            _put_varint(nfix, len(fixes))
            pos = start
            for fix in fixes:
                tag, s, e = fix[0], fix[1], fix[2]
                if tag == "N":
                    runs = -1
                    if s - pos <= _MAX_RUN_GAP * 24:
                        runs = len(_DIGITS.findall(base, pos, s))
                    if 0 <= runs <= _MAX_RUN_GAP and fix[3] == self.delta:
                        # The same shift as the last number (a resized frame
                        # moves cx and cy alike, in every layout): no FVAL.
                        _put_varint(fgap, runs << 3 | _NUM_AGAIN)
                    else:
                        if 0 <= runs <= _MAX_RUN_GAP:
                            _put_varint(fgap, runs << 3 | _NUM_RUNS)
                        else:
                            _put_varint(fgap, (s - pos) << 3 | _NUM_AT)
                        _put_varint(fval, _zigzag(fix[3]))
                        self.delta = fix[3]
                elif tag == "G" and (skip := _guid_skip(base, pos, s, stop)) >= 0:
                    data = fix[3]
                    value = int(data.replace(b"-", b""), 16)
                    flags = _LOWER if data != data.upper() else 0
                    if value >> 76 & 15 == 4 and value >> 62 & 3 == 2 and data not in repeated:
                        # Its 122 random bits; a GUID written more than once
                        # goes whole into LITS, where deflate sees it repeat.
                        flags |= _V4
                        self.guids.put(
                            (value >> 80) << 74 | (value >> 64 & 0xFFF) << 62
                            | (value & 0x3FFFFFFFFFFFFFFF),
                            _GUID_BITS,
                        )
                    else:
                        lits += value.to_bytes(_GUID_BYTES, "big")
                        uses.append((index, s, _GUID_BYTES))
                    _put_varint(fgap, (skip << 2 | flags) << 3 | _UUID)
                elif tag == "M":
                    _put_varint(fgap, (s - pos) << 3 | _MOVE)
                    _put_sizes(flen, e - s, fix[4])
                    _put_varint(fval, _zigzag(fix[3] - s))
                else:
                    data = fix[3]
                    if e - s == len(data):
                        _put_varint(fgap, (s - pos) << 3 | _SUB)
                        _put_varint(flen, len(data))
                    else:
                        _put_varint(fgap, (s - pos) << 3 | _REPL)
                        _put_sizes(flen, e - s, len(data))
                    lits += data
                    uses.append((index, s, len(data)))
                pos = e
        ops.append(_END)

    def pack_literals(self, pairs: Sequence[tuple[bytes, bytes]]) -> bool:
        """Deflate LITS with a dictionary from a base, if that is clearly smaller.

        Inserted text mostly reuses the words of the document, which a plain
        deflate of the literals alone cannot see; 32 KiB of the base around
        where the literals go can.
        """
        lits = self.cols[_LITS]
        if len(lits) < _PACK_MIN or len(lits) > _PACK_MAX:
            return False
        weight: dict[int, int] = {}
        for index, _, count in self.uses:
            weight[index] = weight.get(index, 0) + count
        if not weight:
            return False
        index = max(weight, key=weight.__getitem__)
        base = pairs[index][0]
        if len(base) < 256:
            return False
        positions = [pos for i, pos, _ in self.uses if i == index]
        middle = positions[len(positions) // 2]
        size = min(_MAX_DICT, len(base))
        starts = {0, len(base) - size}
        for center in (positions[0], middle):
            starts.add(min(max(0, center - size // 2), len(base) - size))
        plain = _deflated_size(lits, None)
        best = None
        for start in sorted(starts):
            packer = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zdict=base[start : start + size])
            data = packer.compress(lits) + packer.flush()
            if best is None or len(data) < len(best[1]):
                best = (start, data)
        start, data = best
        head = bytearray()
        for value in (index, start, size, len(lits)):
            _put_varint(head, value)
        # Packed bytes are incompressible to the caller's deflate (a few % more).
        if len(head) + len(data) * 1.03 + 4 >= plain:
            return False
        self.cols[_LITS] = head + data
        return True

    def section(self, npairs: int, packed: bool) -> bytes:
        self.cols[_GUIDS] = self.guids.getvalue()
        mask = _PACKED if packed else 0
        for c, col in enumerate(self.cols):
            if col:
                mask |= _COLUMN_BITS[c]
        head = bytearray()
        _put_varint(head, npairs)
        _put_varint(head, mask)
        present = [col for col in self.cols if col]
        for col in present[:-1]:
            _put_varint(head, len(col))
        return bytes(head) + b"".join(present)


class _Bits:
    """A bit stream, most significant bit first, padded with zeros to a byte."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.count = 0  # bits in acc

    def put(self, value: int, width: int) -> None:
        self.acc = self.acc << width | value
        self.count += width
        whole = self.count >> 3
        if whole:
            self.count &= 7
            self.out += (self.acc >> self.count).to_bytes(whole, "big")
            self.acc &= (1 << self.count) - 1

    def getvalue(self) -> bytes:
        if self.count:
            return bytes(self.out) + bytes([self.acc << (8 - self.count)])
        return bytes(self.out)


def _guid_skip(base: bytes, pos: int, start: int, end: int) -> int:
    """How many GUIDs a GUID fix at *start* skips from *pos* (-1: it cannot be one).

    The decoder takes GUIDs one after the other from *pos* in ``base[pos:end]``;
    a GUID that overlaps another (hex digits before it) may not be among them.
    """
    skip = 0
    while True:
        m = _GUID.search(base, pos, end)
        if m is None or m.start() > start:
            return -1
        if m.start() == start:
            return skip
        skip += 1
        pos = m.end()


def _deflated_size(data: bytes, zdict: bytes | None) -> int:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15, 9) if zdict is None else zlib.compressobj(
        9, zlib.DEFLATED, -15, 9, zdict=zdict
    )
    return len(packer.compress(data) + packer.flush())


class _Matcher:
    """Finds the instructions that rebuild one new content from its base.

    The new content is covered left to right by copies of the base. A copy
    follows one *diagonal* (base position minus new position) and steps over
    small differences with fixes; it stops where no fix lines the contents up
    again, and the next copy starts where a fingerprint of new is found again
    in the base (:meth:`find_anchor`). A fix that looks expensive (a number
    changed by a delta not seen lately, or replaced bytes) is a hint that the
    diagonal may be wrong -- a row was inserted above, a shape moved -- so the
    diagonals suggested by nearby fingerprints are priced over the next few
    hundred bytes and the copy switches if one is clearly cheaper.
    """

    def __init__(self, base: bytes, new: bytes, recent: dict[int, None]) -> None:
        self.base = base
        self.new = new
        self.bv = memoryview(base)
        self.nv = memoryview(new)
        self.recent = recent  # recently used numeric deltas (shared by all pairs)
        self.checks = 256 + len(new) // 256  # budget of diagonal checks
        self.scan = 32 * (len(base) + len(new)) + (1 << 22)  # budget of far-copy search bytes

    def run(self) -> list:
        base, new = self.base, self.new
        nb, nn = len(base), len(new)
        out: list = []
        j = 0  # next new byte to produce
        i = 0  # where the base is expected to continue
        hint = None
        while j < nn:
            if hint is not None:
                anchor, hint = (hint, j), None
            else:
                anchor = self.find_anchor(i, j) if nb else None
            if anchor is None:
                out.append(("A", j, nn))
                break
            bi, nj = anchor
            if nj > j:
                out.append(("A", j, nj))
            i_end, j_end, fixes, hint = self.extend(bi, nj)
            if j_end > nj:
                out.append(("C", bi, i_end, fixes))
            elif hint is None:  # nothing copied: give the byte up as a literal
                out.append(("A", nj, nj + 1))
                i_end, j_end = bi, nj + 1
            i, j = i_end, j_end
        refined: list = []
        for ins in _merge_adds(out):
            if ins[0] == "A" and ins[2] - ins[1] >= _REFINE_MIN and nb >= _FAR_PRINT:
                refined += self.refine(ins[1], ins[2])
            else:
                refined.append(ins)
        return refined

    def refine(self, j0: int, j1: int) -> list:
        """Split the literal new ``[j0, j1)`` into literals and far copies.

        Probes start at word starts; each probe is one ``bytes.find`` over the
        whole base, so the probes are paid from a budget proportional to the
        input size.
        """
        base, new, bv, nv = self.base, self.new, self.bv, self.nv
        out: list = []
        start = j0  # first byte not yet covered
        for m in _WORD_START.finditer(new, j0, j1 - _FAR_PRINT):
            p = m.end() if m.start() > j0 else j0
            if p < start or p + _FAR_PRINT > j1 or self.scan <= 0:
                continue
            probe = new[p : p + _FAR_PRINT]
            best_len, best_pos, best_back = 0, -1, 0
            pos = -1
            for _ in range(_FAR_TRIES):
                pos = base.find(probe, pos + 1)
                self.scan -= len(base) if pos < 0 else pos + _FAR_PRINT
                if pos < 0:
                    break
                ahead = _FAR_PRINT + _match_forward(
                    bv, pos + _FAR_PRINT, nv, p + _FAR_PRINT, j1 - p - _FAR_PRINT
                )
                back = _match_backward(bv, pos, nv, p, p - start)
                if back + ahead > best_len:
                    best_len, best_pos, best_back = back + ahead, pos, back
            if best_len >= _FAR_MIN:
                if p - best_back > start:
                    out.append(("A", start, p - best_back))
                out.append(("F", best_pos - best_back, best_pos - best_back + best_len))
                start = p - best_back + best_len
        if start < j1:
            out.append(("A", start, j1))
        return out

    # -- copies ------------------------------------------------------------------

    def extend(self, i: int, j: int):
        """Copy from base *i* for new *j* on, fixing small differences.

        Returns the end of the copy in base and in new, its fixes (in base
        coordinates), and the base position where the next copy should start
        if the copy stopped for a better diagonal (else ``None``).
        """
        bv, nv = self.bv, self.nv
        nb, nn = len(bv), len(nv)
        fixes: list = []
        starts: list = []  # new position where each fix starts
        cursor = i
        j0 = j
        recent = self.recent
        while True:
            run = _match_forward(bv, i, nv, j)
            i += run
            j += run
            if j >= nn or i >= nb:
                return i, j, fixes, None
            fix = self.fix_at(i, j, cursor)
            if fix is None:
                break
            f, sj = fix[0], fix[1]
            if sj > j0 and self.checks > 0 and self._costly(f, recent, None) > 1.0:
                self.checks -= 1
                better = self.better_diagonal(f[1], sj)
                if better is not None:
                    return f[1], sj, fixes, better
            if f[0] == "N":
                delta = f[3]
                recent.pop(delta, None)
                recent[delta] = None
                if len(recent) > 16:
                    del recent[next(iter(recent))]
            fixes.append(f)
            starts.append(sj)
            i, j = fix[2], fix[3]
            cursor = f[2]
        # The copy stops here; drop trailing fixes not confirmed by a real match.
        while fixes and i - fixes[-1][2] < _FIX_CONFIRM:
            last = fixes.pop()
            j = starts.pop()
            i = last[1]
        return i, j, fixes, None

    def fix_at(self, i: int, j: int, cursor: int):
        """A fix for the mismatch at base *i* / new *j*, or ``None``.

        Returns ``(fix, new_start, base_after, new_after)``.
        """
        base, new = self.base, self.new
        isdigit = _ISDIGIT
        # A number that changed: back up to the start of its digit run.
        si = i
        while si > cursor and isdigit[base[si - 1]] and i - si <= _MAX_DIGITS:
            si -= 1
        sj = j - (i - si)
        if isdigit[base[si]] and isdigit[new[sj]]:
            mb = _DIGITS.match(base, si)
            mn = _DIGITS.match(new, sj)
            db, dn = mb.group(), mn.group()
            # Digits glued to a following letter are part of an identifier (a
            # GUID, a timestamp): replacing them whole is cheaper than a delta.
            if (
                len(db) <= _MAX_DIGITS
                and len(dn) <= _MAX_DIGITS
                and (dn[0] != 48 or len(dn) == 1)
                and not _ISALPHA[base[mb.end()] if mb.end() < len(base) else 0]
                and not _ISALPHA[new[mn.end()] if mn.end() < len(new) else 0]
            ):
                delta = int(dn) - int(db)
                return ("N", si, mb.end(), delta), sj, mb.end(), mn.end()
        # A GUID replaced by another (a field id LibreOffice draws anew on every
        # save): one fix for the whole GUID, however many of its bytes differ.
        m = None
        if _ISHEX[base[i]] and _ISHEX[new[j]] and 45 in base[max(cursor, i - 23) : i + 14]:
            m = _GUID.search(base, max(cursor, i - _GUID_SIZE + 1), i + _GUID_SIZE)
        if m is not None and m.start() <= i:
            gs, ge = m.span()
            gj = j - (i - gs)
            data = new[gj : gj + _GUID_SIZE]
            if _GUID.fullmatch(data) and (data == data.upper() or data == data.lower()):
                return ("G", gs, ge, data), gj, ge, gj + _GUID_SIZE
        # Some bytes replaced: find where base and new line up again, nearest first.
        nb, nn = len(base), len(new)
        best = None
        best_total = 1 << 60
        limit = min(_FIX_WINDOW, nn - j)
        for dm in range(limit + 1):
            if dm >= best_total:
                break
            probe = new[j + dm : j + dm + _FIX_CONFIRM]
            if not probe:
                # new ends here: drop the rest of the copy's base
                if best is None:
                    best, best_total = (0, dm), dm
                break
            hi = min(nb, i + min(_FIX_WINDOW, best_total - dm) + len(probe))
            pos = base.find(probe, i, hi)
            if pos >= 0 and (pos - i) + dm < best_total and (pos > i or dm > 0):
                best, best_total = (pos - i, dm), (pos - i) + dm
        if best is None:
            return None
        dn, dm = best
        if dm >= _MOVE_MIN:
            # The inserted bytes may be in the base nearby (a moved attribute).
            data = new[j : j + dm]
            after = base.find(data, i, min(nb, i + _MOVE_RADIUS))
            before = base.rfind(data, max(0, i - _MOVE_RADIUS), i + dm - 1)
            if after >= 0 or before >= 0:
                source = after if before < 0 or (after >= 0 and after - i < i - before) else before
                return ("M", i, i + dn, source, dm), j, i + dn, j + dm
        return ("R", i, i + dn, new[j : j + dm]), j, i + dn, j + dm

    @staticmethod
    def _costly(fix, recent, seen) -> float:
        """Estimated compressed bytes of a fix."""
        if fix[0] == "N":
            delta = fix[3]
            if delta in recent or (seen is not None and delta in seen):
                return 0.25
            return 1.2 + 0.5 * (abs(delta).bit_length() + 8) // 7
        if fix[0] == "M":
            return 4.0
        if fix[0] == "G":
            return 17.5
        return 1.5 + 0.55 * len(fix[3]) + (0.0 if fix[2] - fix[1] == len(fix[3]) else 0.5)

    def simulate(self, i: int, j: int, stop: int) -> float:
        """Estimated cost of copying new ``[j, stop)`` on the diagonal through (*i*, *j*)."""
        bv, nv = self.bv, self.nv
        nb, nn = len(bv), len(nv)
        stop = min(stop, nn)
        cost = 0.0
        cursor = i
        seen: set[int] = set()
        while j < stop:
            run = _match_forward(bv, i, nv, j, stop - j)
            i += run
            j += run
            if j >= stop:
                break
            if i >= nb:
                return cost + (stop - j) * 0.6
            fix = self.fix_at(i, j, cursor)
            if fix is None:
                return cost + (stop - j) * 0.6 + 3
            f = fix[0]
            cost += self._costly(f, self.recent, seen)
            if f[0] == "N":
                seen.add(f[3])
            i, j = fix[2], fix[3]
            cursor = f[2]
        return cost

    def better_diagonal(self, i: int, j: int):
        """A base position for new *j* that is clearly cheaper than base *i*, or ``None``."""
        base, new = self.base, self.new
        nb = len(base)
        lo = max(0, i - _SWITCH_RADIUS)
        hi = min(nb, i + _SWITCH_RADIUS)
        diagonals = set()
        for t in (0, 8, 16, 24, 32):
            probe = new[j + t : j + t + _SWITCH_PRINT]
            if len(probe) < _SWITCH_PRINT:
                break
            after = base.find(probe, i, hi)
            before = base.rfind(probe, lo, i + _SWITCH_PRINT - 1)
            for _ in range(2):
                if after >= 0:
                    diagonals.add(after - t)
                    after = base.find(probe, after + 1, hi)
                if before >= 0:
                    diagonals.add(before - t)
                    before = base.rfind(probe, lo, before + _SWITCH_PRINT - 1)
        diagonals.discard(i)
        if not diagonals:
            return None
        stop = j + _SWITCH_HORIZON
        best = self.simulate(i, j, stop) - _SWITCH_COST
        choice = None
        for p in sorted(diagonals, key=lambda p: abs(p - i))[:8]:
            if 0 <= p < nb:
                cost = self.simulate(p, j, stop)
                if cost < best:
                    best, choice = cost, p
        return choice

    # -- resynchronization -----------------------------------------------------------

    def find_anchor(self, i: int, j: int):
        """Where new *j* on can be copied from again: ``(base_pos, new_pos)``.

        Looks for fingerprints of new at growing distances *d* from *j*, in a
        window of base around where it would be if the content since *j* were
        an insertion or a deletion of about *d* bytes; nearest candidates first.
        """
        base, new = self.base, self.new
        bv, nv = self.bv, self.nv
        nb, nn = len(base), len(new)
        # Content where every few bytes a number changed (short renumbered
        # rows) has no long exact match, but continues on the same diagonal.
        if i < nb and self.simulate(i, j, j + _SWITCH_HORIZON) < _SWITCH_HORIZON * 0.15:
            return i, j
        d = 0
        fallback = None  # the longest far match seen: (run, base pos, new pos)
        while j + d + _PRINT <= nn:
            probe = new[j + d : j + d + _PRINT]
            center = min(i + d, nb)
            radius = max(1 << 15, 2 * d)
            lo = max(0, center - radius)
            hi = min(nb, center + radius + _PRINT)
            run, p = self._candidate(probe, center, lo, hi, j + d)
            # Near the expected place a short match will do; far from it, a
            # short match is likely a phrase the text happens to repeat.
            if run >= _FAR_ANCHOR or (run >= _MIN_ANCHOR and abs(p - center) <= _NEAR):
                back = _match_backward(bv, p, nv, j + d, d)
                return p - back, j + d - back
            if run >= _MIN_ANCHOR and (fallback is None or run > fallback[0]):
                fallback = (run, p, j + d)
            if fallback is not None and d >= _FALLBACK_AFTER:
                break
            d = d + 16 if d < 128 else d + (d >> 1)
        # Nothing convincing nearby: the content may have moved from far away.
        for t in (0, 48, 192, 768):
            if j + t + _PRINT > nn or self.scan <= 0:
                break
            run, p = self._candidate(new[j + t : j + t + _PRINT], 0, 0, nb, j + t)
            self.scan -= nb
            if run >= _FAR_ANCHOR:
                back = _match_backward(bv, p, nv, j + t, t)
                return p - back, j + t - back
        if fallback is not None:
            _, p, nj = fallback
            back = _match_backward(bv, p, nv, nj, nj - j)
            return p - back, nj - back
        # The tail is shorter than a fingerprint, or novel: try the plain
        # continuation before giving up.
        if j < nn and i < nb and _match_forward(bv, i, nv, j) >= min(_MIN_ANCHOR, nn - j):
            return i, j
        return None

    def _candidate(self, probe: bytes, center: int, lo: int, hi: int, nj: int):
        """The best of the occurrences of *probe* nearest to *center*: ``(run, pos)``."""
        base = self.base
        bv, nv = self.bv, self.nv
        after = base.find(probe, center, hi)
        before = base.rfind(probe, lo, min(hi, center + _PRINT - 1))
        best = (0, -1)
        tries = 0
        while (after >= 0 or before >= 0) and tries < 8:
            tries += 1
            if after >= 0 and (before < 0 or after - center <= center - before):
                p = after
                after = base.find(probe, p + 1, hi)
            else:
                p = before
                before = base.rfind(probe, lo, p + _PRINT - 1)
            run = _PRINT + _match_forward(bv, p + _PRINT, nv, nj + _PRINT, _FAR_ANCHOR)
            if nj + run >= len(nv):
                run = _FAR_ANCHOR  # matches to the end of new: as good as it gets
            if run > best[0] or (run == best[0] and abs(p - center) < abs(best[1] - center)):
                best = (run, p)
            if run >= _FAR_ANCHOR:
                break
        return best


def _merge_adds(instructions: list) -> list:
    out: list = []
    for ins in instructions:
        if ins[0] == "A" and out and out[-1][0] == "A" and out[-1][2] == ins[1]:
            out[-1] = ("A", out[-1][1], ins[2])
        else:
            out.append(ins)
    return out


def _context(base: bytes, start: int) -> bytes:
    """The bytes before the number at *start* that may name what it numbers.

    Up to :data:`_RULE_CONTEXT` bytes, none of them digits (``="s"><v>`` for a
    shared-string index, ``><c r="A`` for a row number in column A).
    """
    return _CONTEXT.search(base, max(0, start - _RULE_CONTEXT), start).group()


def _fit_steps(votes: dict[int, dict[int, int]]) -> list:
    """A step map value -> delta agreeing with most votes ``{value: {delta: count}}``."""
    distinct = []
    for value in sorted(votes):
        tally = votes[value]
        delta = max(tally, key=tally.__getitem__)
        distinct.append((value, delta, tally[delta]))
    steps: list = []
    current = 0
    k = 0
    while k < len(distinct):
        value, delta, _ = distinct[k]
        if delta != current:
            # A new step only where several values agree on it; a lone value
            # is an exception (a cell the user edited), cheaper as a fix.
            end, weight = k, 0
            while end < len(distinct) and distinct[end][1] == delta:
                weight += distinct[end][2]
                end += 1
            if weight >= 3:
                steps.append((value, delta))
                current = delta
                k = end
                continue
        k += 1
    return steps[:_MAX_STEPS]


def _find_rules(base: bytes, instructions: list) -> tuple[list, list]:
    """Replace systematic renumbering fixes by rules plus exceptions.

    A row inserted in a sheet adds one to every later row number; a string
    added to a shared-string table adds one to every later string index. As
    fixes that is one fix per number; as a rule (the numbers after
    ``><c r="A`` at least 124 get +1) it is a few bytes, plus ordinary fixes
    where the rule would be wrong. The rules found here are checked the way
    the decoder applies them: on the base bytes each copy takes, between its
    fixes.
    """
    fixes_n = [f for ins in instructions if ins[0] == "C" for f in ins[3] if f[0] == "N"]
    if len(fixes_n) < _RULE_MIN_FIXES:
        return [], instructions
    by_context: dict[bytes, dict[int, int]] = {}
    for f in fixes_n:
        context = _context(base, f[1])
        if context:
            tally = by_context.setdefault(context, {})
            tally[f[3]] = tally.get(f[3], 0) + 1
    # Worth pricing only where the deltas repeat (renumbering), not where
    # every number changed its own way (edited values): pricing scans the
    # copies for every number in the context.
    counts: dict[bytes, int] = {}
    for context, tally in by_context.items():
        total = sum(tally.values())
        repeated = sum(n for n in tally.values() if n >= 3)
        if total >= _RULE_MIN_FIXES // 2 and repeated * 2 >= total:
            counts[context] = total
    contexts = sorted(counts, key=lambda c: -counts[c])
    # No context may end another: both would claim the same numbers.
    chosen: list[bytes] = []
    for c in contexts:
        if not any(c.endswith(o) or o.endswith(c) for o in chosen):
            chosen.append(c)
    chosen = chosen[:_MAX_RULES]
    for _ in range(3):
        if not chosen:
            return [], instructions
        result = _try_rules(base, instructions, chosen)
        if result is None:
            return [], instructions
        gains, rules, rebuilt = result
        # A rule needs a step (the decoder refuses one without): a context
        # whose numbers all keep their value gains only by dropping fixes of
        # delta 0, which are not worth a rule.
        keep = [
            c for c in chosen
            if rules[c] and gains[c] > 2 + len(c) // 2 + 2 * len(rules[c])
        ]
        if keep == chosen:
            return [(c, rules[c]) for c in chosen], rebuilt
        chosen = keep
    return [], instructions


def _try_rules(base: bytes, instructions: list, contexts: list):
    """Price rules for *contexts*: ``(gain per context, steps, instructions)``.

    Emulates the decoder: a rule sees the numbers after its context inside
    the stretches each copy takes from the base between its replacing fixes
    (numeric fixes do not hide other numbers: contexts hold no digits). The
    numbers are gathered with ``findall`` and counted; positions are looked
    up only for the few numbers a rule would get wrong.
    """
    stretches = []  # (instruction, start, end, numeric fixes inside)
    for index, ins in enumerate(instructions):
        if ins[0] != "C":
            continue
        _, start, stop, fixes = ins
        pos = start
        numeric: list = []
        for f in fixes:
            if f[0] == "N":
                numeric.append(f)
            else:
                stretches.append((index, pos, f[1], numeric))
                numeric = []
                pos = f[2]
        stretches.append((index, pos, stop, numeric))
    # Each numeric fix is seen by at most one rule: the one whose context
    # ends its own (contexts never end one another).
    sizes = sorted({len(c) for c in contexts})
    known = set(contexts)
    # (value, delta, where, whether the digits are the value's number text)
    fixed_by: dict[bytes, list] = {c: [] for c in contexts}
    for index, start, end, numeric in stretches:
        for f in numeric:
            before = base[max(start, f[1] - _RULE_CONTEXT) : f[1]]
            for size in sizes:
                if len(before) >= size and before[-size:] in known:
                    digits = base[f[1] : f[2]]
                    value = int(digits)
                    fixed_by[before[-size:]].append(
                        (value, f[3], (index, f[1]), digits == b"%d" % value)
                    )
                    break
    gains: dict[bytes, int] = {}
    rules: dict[bytes, list] = {}
    drop: set[tuple[int, int]] = set()  # fixes the rules make unneeded
    add: dict[int, list] = {}  # exceptions to add, by instruction
    for context in contexts:
        finder = re.compile(re.escape(context) + b"([0-9]+)")
        votes: dict[int, dict[int, int]] = {}
        fixed = fixed_by[context]
        for index, start, end, numeric in stretches:
            for digits in finder.findall(base, start, end):
                if len(digits) <= _MAX_DIGITS:
                    value = int(digits)
                    tally = votes.setdefault(value, {})
                    tally[0] = tally.get(0, 0) + 1
        for value, delta, _, _ in fixed:
            tally = votes.get(value)  # counted above as unchanged
            if not tally or not tally.get(0):
                return None  # the scan disagrees with the fixes: keep the fixes
            tally[0] -= 1
            tally[delta] = tally.get(delta, 0) + 1
        steps = _fit_steps(votes)
        rules[context] = steps
        thresholds = [t for t, _ in steps]
        deltas = [d for _, d in steps]

        def predict(value: int) -> int:
            k = bisect_right(thresholds, value)
            return deltas[k - 1] if k else 0

        gain = 0
        for value, delta, where, canonical in fixed:
            # The rule must write what the fix writes: the number text of
            # value + delta. A rule step of 0 leaves the digits as they are,
            # so it cannot stand in for a fix that drops leading zeros
            # ("655.01" -> "392.1": the "01" after "." is a fix of delta 0).
            if predict(value) == delta and (delta or canonical):
                drop.add(where)
                gain += 1
        # Unchanged numbers the rule would renumber need a fix saying so.
        wrong = {v for v, tally in votes.items() if tally.get(0) and predict(v)}
        if wrong:
            for index, start, end, numeric in stretches:
                fixed_here = {f[1] for f in numeric}
                for m in finder.finditer(base, start, end):
                    first, stop = m.span(1)
                    if stop - first > _MAX_DIGITS or first in fixed_here:
                        continue
                    if int(m.group(1)) not in wrong:
                        continue
                    digits = m.group(1)
                    if _DIGITS.match(base, first).end() != stop:
                        return None  # part of a longer number: not worth the trouble
                    if len(digits) > 1 and digits[0] == 48:
                        exception = ("R", first, stop, digits)
                    else:
                        exception = ("N", first, stop, 0)
                    add.setdefault(index, []).append(exception)
                    gain -= 1
        gains[context] = gain
    rebuilt = []
    for index, ins in enumerate(instructions):
        if ins[0] == "C":
            _, start, stop, fixes = ins
            extra = add.get(index, [])
            if extra or any((index, f[1]) in drop for f in fixes if f[0] == "N"):
                fixes = [f for f in fixes if not (f[0] == "N" and (index, f[1]) in drop)] + extra
                fixes.sort(key=lambda f: f[1])
                ins = ("C", start, stop, fixes)
        rebuilt.append(ins)
    return gains, rules, rebuilt


def encode(pairs: Sequence[tuple[bytes, bytes]]) -> bytes:
    """Make the section that turns each base into its new content.

    :param pairs: ``(base, new)`` contents, in the order :func:`decode` will
        be given the bases.
    :returns: the section, uncompressed (it is laid out for deflate).
    """
    return _encode(pairs)[0]


def encode_pair(base: bytes, new: bytes) -> tuple[bytes, int | None]:
    """:func:`encode` of one pair, and where in ``base`` its last copy ended.

    The end tells a caller that diffs a long content piece by piece where the
    next piece most likely continues in the base, even where every fingerprint
    of the piece's end was rewritten (a renumbered sheet).

    :returns: the section, and the base offset just past the last copy (None
        when nothing was copied).
    """
    section, plans = _encode([(base, new)])
    ends = [ins[2] for ins in plans[0][1] if ins[0] == "C"]
    return section, (ends[-1] if ends else None)


def _encode(pairs: Sequence[tuple[bytes, bytes]]) -> tuple[bytes, list]:
    recent: dict[int, None] = {}
    pairs = [(bytes(base), bytes(new)) for base, new in pairs]
    plans = []
    for base, new in pairs:
        instructions = _Matcher(base, new, recent).run() if new else []
        plans.append(_find_rules(base, instructions))
    section = _section(pairs, plans)
    if len(section) <= _TINY and not any(rules for rules, _ in plans):
        # In a tiny section the header of the fix columns costs more than the
        # fixes save: try the same edits as plain copies and literals.
        bare = [([], _unfixed(base, ins)) for (base, _), (_, ins) in zip(pairs, plans)]
        plain = _section(pairs, bare)
        if _deflated_size(plain, None) < _deflated_size(section, None):
            return plain, plans
    return section, plans


def _section(pairs: list, plans: list) -> bytes:
    columns = _Columns()
    seen: set = set()
    repeated: set = set()
    for _, instructions in plans:
        for ins in instructions:
            if ins[0] == "C":
                for fix in ins[3]:
                    if fix[0] == "G":
                        data = fix[3].upper()
                        (repeated if data in seen else seen).add(data)
    repeated |= {data.lower() for data in repeated}
    for index, ((base, new), (rules, instructions)) in enumerate(zip(pairs, plans)):
        columns.emit_pair(index, base, new, rules, instructions, repeated)
    packed = columns.pack_literals(pairs)
    return columns.section(len(pairs), packed)


def _unfixed(base: bytes, instructions: list) -> list:
    """The instructions with every fix spelled as copies and literals."""
    out: list = []
    for ins in instructions:
        if ins[0] != "C" or not ins[3]:
            out.append(ins)
            continue
        _, start, stop, fixes = ins
        pos = start
        for f in fixes:
            if f[1] > pos:
                out.append(("C", pos, f[1], []))
            if f[0] == "N":
                out.append(("L", b"%d" % (int(base[f[1] : f[2]]) + f[3])))
            elif f[0] == "M":
                out.append(("F", f[3], f[3] + f[4]))
            elif f[3]:
                out.append(("L", f[3]))
            pos = f[2]
        if stop > pos:
            out.append(("C", pos, stop, []))
    return out
