"""diff, patch and describe: the delta format of docs/delta-format.md, end to end.

A delta is a 69-byte header (magic, version, flags, SHA-256 of base and
result) followed by ONE raw-deflate stream holding the payload (stored as it
is when deflate would not make it smaller): for a ZIP document, a table of
operations on the base's members, the new archive's frame delta-coded against
the base's frame, and the content deltas of all changed members in one
copy/insert section. Compressing everything together lets deflate share its
statistics across members (LibreOffice's pptx rewrites IDs in dozens of
members on every save).
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence

from edgesync.delta import _copyinsert, _deflate, _dmp, _zip
from edgesync.delta._types import DeltaInfo, Limits, MemberInfo
from edgesync.delta._wire import Reader, Writer, inflate
from edgesync.errors import (
    BaseMismatchError,
    CorruptDeltaError,
    DeltaError,
    LimitExceededError,
    UnsupportedFormatError,
)

MAGIC = b"ESD"
VERSION = 1
HEADER_SIZE = 4 + 1 + 32 + 32
_FLAG_EXACT = 0x01
_FLAG_STORED = 0x02   # the payload follows as it is, not deflated (tiny payloads)
_KNOWN_FLAGS = _FLAG_EXACT | _FLAG_STORED

# The payload's deflate stream starts with this preset dictionary (format version 1):
# the member names of the office formats, so that naming the changed members costs a
# few bytes even in the smallest delta. The most common come last, nearest the data.
PAYLOAD_DICTIONARY = b"".join([
    b"Configurations2/", b"Pictures/", b"Thumbnails/thumbnail.png", b"META-INF/manifest.xml",
    b"manifest.rdf", b"mimetype", b"xl/theme/theme1.xml", b"xl/_rels/workbook.xml.rels",
    b"xl/workbook.xml", b"xl/styles.xml", b"xl/worksheets/sheet1.xml", b"xl/sharedStrings.xml",
    b"ppt/presProps.xml", b"ppt/viewProps.xml", b"ppt/tableStyles.xml", b"ppt/theme/theme1.xml",
    b"ppt/media/image1.jpeg", b"ppt/presentation.xml", b"ppt/_rels/presentation.xml.rels",
    b"ppt/notesMasters/notesMaster1.xml", b"ppt/slideMasters/_rels/slideMaster1.xml.rels",
    b"ppt/slideMasters/slideMaster1.xml", b"ppt/slideLayouts/_rels/slideLayout1.xml.rels",
    b"ppt/slideLayouts/slideLayout1.xml", b"ppt/notesSlides/_rels/notesSlide1.xml.rels",
    b"ppt/notesSlides/notesSlide1.xml", b"ppt/slides/_rels/slide1.xml.rels",
    b"ppt/slides/slide1.xml", b"word/theme/theme1.xml", b"word/webSettings.xml",
    b"word/footnotes.xml", b"word/numbering.xml", b"word/media/image1.jpeg",
    b"word/_rels/document.xml.rels", b"word/fontTable.xml", b"word/settings.xml",
    b"word/styles.xml", b"[Content_Types].xml", b"_rels/.rels", b"docProps/custom.xml",
    b"docProps/app.xml", b"settings.xml", b"styles.xml", b"meta.xml", b"content.xml",
    b"word/document.xml", b"docProps/core.xml",
])

# Payload kinds.
KIND_RAW, KIND_ZIP = 0, 1
# Codecs of one member (or of the whole file for KIND_RAW).
CODEC_SAME, CODEC_CI, CODEC_DMP, CODEC_LITERAL, CODEC_CHUNKED = 0, 1, 2, 3, 4
CODEC_NAMES = {CODEC_SAME: "same", CODEC_CI: "copy-insert", CODEC_DMP: "dmp",
               CODEC_LITERAL: "literal", CODEC_CHUNKED: "chunked"}
_MEMBER_CODECS = (CODEC_SAME, CODEC_CI, CODEC_DMP, CODEC_CHUNKED)
# Chunks of a CHUNKED member.
_CHUNK_COPY, _CHUNK_CI = 0, 1
# Operations on a member of the new archive.
OP_KEEP, OP_PATCH, OP_ADD, OP_RAW = 0, 1, 2, 3
OP_NAMES = {OP_KEEP: "keep", OP_PATCH: "patch", OP_ADD: "add", OP_RAW: "raw"}

_STORED, _DEFLATED = 0, 8
# dmp is tried only on members this small whose edits all fall within one span this
# long: there its Myers diff is quick without a deadline (its cost grows with the span
# times the edit count, and LibreOffice's scattered ID rewrites make both large).
_DMP_MAX_MEMBER = 256 * 1024
_DMP_MAX_SPAN = 2048
_DMP_MAX_CI = 256

# A deflated member whose content (in base or new) exceeds this is diffed as a stream,
# STREAM_CHUNK bytes of new content at a time against a window of the base from where
# they came from (and STREAM_MARGIN beyond), so that the diff never holds two
# whole contents: a 77 MB spreadsheet would otherwise need over 150 MB. Edits that
# move content farther than the margin cost literals there, never correctness.
STREAM_THRESHOLD = 16 << 20
STREAM_CHUNK = 4 << 20
STREAM_MARGIN = 1 << 20
STREAM_LOOKAHEAD = 8 << 20
# How much of a piece's end is looked for to find where the next piece comes from.
_TAIL = 256


# --- diff -------------------------------------------------------------------------------


def diff(base: bytes, new: bytes, *, path: str | None = None) -> bytes:
    """The delta that turns ``base`` into ``new``. See :func:`edgesync.delta.diff`."""
    base, new = bytes(base), bytes(new)
    base_hash = hashlib.sha256(base).digest()
    delta: bytes | None = None
    try:
        base_zip, new_zip = _zip.parse(base), _zip.parse(new)
    except _zip.NotModelled:
        base_zip = new_zip = None
    try:
        if base_zip is not None and new_zip is not None:
            delta = _diff_zip(base, new, base_zip, new_zip, base_hash)
        if delta is None:
            delta = _diff_raw(base, new, base_hash)
    except _EncoderFault:
        return _literal(new, base_hash)
    # Never send more than the whole file, compressed.
    if len(delta) * 8 > len(new):
        literal = _literal(new, base_hash)
        if len(literal) < len(delta):
            delta = literal
    return delta


def _seal(base_hash: bytes, result_hash: bytes, exact: bool, payload: bytes) -> bytes:
    """Header and payload, deflated unless that would not make it smaller."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zdict=PAYLOAD_DICTIONARY)
    body = comp.compress(payload) + comp.flush()
    flags = _FLAG_EXACT if exact else 0
    if len(payload) <= len(body):
        body = payload
        flags |= _FLAG_STORED
    return MAGIC + bytes([VERSION, flags]) + base_hash + result_hash + body


def _literal(new: bytes, base_hash: bytes) -> bytes:
    w = Writer()
    w.varint(KIND_RAW)
    w.u8(CODEC_LITERAL)
    w.raw(new)
    return _seal(base_hash, hashlib.sha256(new).digest(), True, w.getvalue())


def _diff_raw(base: bytes, new: bytes, base_hash: bytes) -> bytes:
    w = Writer()
    w.varint(KIND_RAW)
    if base == new:
        w.u8(CODEC_SAME)
    else:
        codec, ci_pairs, dmp_patches = _choose_codec(base, new)
        w.u8(codec)
        w.raw(_encode_ci(ci_pairs) if codec == CODEC_CI else dmp_patches[0])
    return _seal(base_hash, hashlib.sha256(new).digest(), True, w.getvalue())


def _encode_ci(pairs: list[tuple[bytes, bytes]]) -> bytes:
    """A copy/insert section for ``pairs``, checked by decoding it before it is sent.

    Decoding costs a fraction of encoding, and it means an encoder bug can
    cost bytes but never a delta the edge cannot apply: a pair that does not
    come back is sent again as pure insertions (no copies, so it decodes the
    same against any base).
    """
    section = _copyinsert.encode(pairs)
    wrong = _ci_mismatches(section, pairs)
    if wrong:
        pairs = [(b"" if k in wrong else base, new) for k, (base, new) in enumerate(pairs)]
        section = _copyinsert.encode(pairs)
        if _ci_mismatches(section, pairs):
            raise _EncoderFault("the copy/insert encoder cannot even write insertions")
    return section


class _EncoderFault(Exception):
    """Our own encoder produced something that does not decode: send the file literally."""


def _ci_mismatches(section: bytes, pairs: list[tuple[bytes, bytes]]) -> set[int]:
    try:
        outs = _copyinsert.decode(section, [base for base, _ in pairs],
                                  max_output=sum(len(new) for _, new in pairs))
    except DeltaError:
        return set(range(len(pairs)))
    return {k for k, ((_, new), out) in enumerate(zip(pairs, outs, strict=True)) if out != new}


def _choose_codec(base: bytes, new: bytes) -> tuple[int, list[tuple[bytes, bytes]], list[bytes]]:
    """Copy/insert, or diff-match-patch where it is measurably smaller."""
    if len(base) <= _DMP_MAX_MEMBER and len(new) <= _DMP_MAX_MEMBER \
            and _dmp.edit_span(base, new) <= _DMP_MAX_SPAN:
        ci_size = len(zlib.compress(_copyinsert.encode([(base, new)]), 9))
        # Where copy/insert needs many bytes the edit is no small one, and an
        # unbounded Myers diff of unrelated text is slow: dmp could not win there.
        if ci_size <= _DMP_MAX_CI:
            patch = _dmp.encode(base, new)
            if len(zlib.compress(patch, 9)) < ci_size:
                return CODEC_DMP, [], [patch]
    return CODEC_CI, [(base, new)], []


def _dmp_section(patches: Sequence[bytes]) -> bytes:
    w = Writer()
    for patch in patches:
        w.blob(patch)
    return w.getvalue()


def _content(data: bytes, archive: _zip.Archive, entry: _zip.Entry) -> bytes | None:
    """The uncompressed content of an entry, or None when it is not stored/deflated.

    Only for the diff side, whose inputs are the caller's own files: the output
    buffer is sized by the directory's uncompressed size, which halves the peak
    memory of inflating a large member (zlib otherwise grows and then copies).
    """
    raw = data[entry.data_start:entry.data_end]
    if entry.method == _STORED:
        return raw
    if entry.method == _DEFLATED:
        size_hint = min(max(archive.central[entry.central].usize, 1), 1 << 30)
        try:
            return zlib.decompress(raw, -15, size_hint)
        except zlib.error:
            return None
    return None


def _diff_zip(base: bytes, new: bytes, base_zip: _zip.Archive, new_zip: _zip.Archive,
              base_hash: bytes) -> bytes | None:
    base_by_name = {e.name: i for i, e in enumerate(base_zip.entries)}
    base_central = base_zip.central
    ops: list[int] = []
    refs: list[int] = []
    codecs: list[int] = []
    recipes: list[bytes] = []
    raw_truths: list[tuple[int, int]] = []
    names: list[bytes] = []
    ci_pairs: list[tuple[bytes, bytes]] = []
    dmp_patches: list[bytes] = []
    chunked: list[list[tuple[int, int, int, bytes]]] = []
    frame_truths: list[_zip.Truth] = []   # what the new file's fields derive from
    build_truths: list[_zip.Truth] = []   # the same, for the data the patcher will write
    datas: list[bytes] = []
    exact = True
    hint: _deflate.Recipe | None = None

    for entry in new_zip.entries:
        raw_new = new[entry.data_start:entry.data_end]
        rec = new_zip.central[entry.central]
        j = base_by_name.get(entry.name)
        base_entry = base_zip.entries[j] if j is not None else None
        if base_entry is not None and base_entry.method == entry.method and \
                base[base_entry.data_start:base_entry.data_end] == raw_new:
            bc = base_central[base_entry.central]
            ops.append(OP_KEEP)
            refs.append(j)
            truth = _zip.Truth(bc.crc, bc.usize, len(raw_new))
            frame_truths.append(truth)
            build_truths.append(truth)
            datas.append(raw_new)
            continue

        if base_entry is not None and entry.method == base_entry.method == _DEFLATED and \
                max(rec.usize, base_central[base_entry.central].usize) > STREAM_THRESHOLD:
            streamed = _stream_member(base[base_entry.data_start:base_entry.data_end],
                                      raw_new, hint)
            if streamed is not None:
                member_chunks, recipe, crc, size = streamed
                names.append(entry.name)
                ops.append(OP_PATCH)
                refs.append(j)
                codecs.append(CODEC_CHUNKED)
                chunked.append(member_chunks)
                recipes.append(recipe.to_bytes())
                hint = recipe
                truth = _zip.Truth(crc, size, len(raw_new))
                frame_truths.append(truth)
                build_truths.append(truth)
                datas.append(raw_new)
                continue

        content = _content(new, new_zip, entry)
        base_content = (_content(base, base_zip, base_entry) if base_entry is not None
                        else b"")
        names.append(entry.name)
        if content is None or base_content is None:
            # Not stored or deflated (or damaged): carry the compressed bytes as they are.
            ops.append(OP_RAW)
            refs.append(j if base_entry is not None else len(base_zip.entries))
            base_raw = (base[base_entry.data_start:base_entry.data_end]
                        if base_entry is not None else b"")
            codec, pairs, patches = _choose_codec(base_raw, raw_new)
            codecs.append(codec)
            ci_pairs += pairs
            dmp_patches += patches
            raw_truths.append((rec.crc, rec.usize))
            truth = _zip.Truth(rec.crc, rec.usize, len(raw_new))
            frame_truths.append(truth)
            build_truths.append(truth)
            datas.append(raw_new)
            continue

        if base_entry is not None:
            ops.append(OP_PATCH)
            refs.append(j)
        else:
            ops.append(OP_ADD)
        if content == base_content:
            codecs.append(CODEC_SAME)
        else:
            codec, pairs, patches = _choose_codec(base_content, content)
            codecs.append(codec)
            ci_pairs += pairs
            dmp_patches += patches
        data = raw_new
        if entry.method == _DEFLATED:
            recipe = _deflate.find_recipe(raw_new, content, hint=hint)
            if recipe is None:
                recipe = _deflate.CANONICAL
                data = _deflate.deflate(content, recipe)
                exact = False
            else:
                hint = recipe
            recipes.append(recipe.to_bytes())
        crc = zlib.crc32(content)
        frame_truths.append(_zip.Truth(crc, len(content), len(raw_new)))
        build_truths.append(_zip.Truth(crc, len(content), len(data)))
        datas.append(data)

    frame = _zip.write_frame(new_zip, frame_truths)
    base_frame = _zip.write_frame(base_zip, _zip.directory_truths(base_zip))
    rebuilt = _zip.build(_zip.read_frame(frame, max_members=len(new_zip.entries)),
                         datas, build_truths)
    if exact and rebuilt != new:
        # The model promised exactness and did not deliver: never send such a delta.
        return None

    w = Writer()
    w.varint(KIND_ZIP)
    w.varint(len(base_zip.entries))
    w.varint(len(new_zip.entries))
    w.raw(bytes(ops))
    # Each reference relative to the one after the previous: an unchanged
    # archive's references are all 0, which costs deflate almost nothing.
    expected = 0
    for ref in refs:
        w.varint(_zigzag(ref - expected))
        expected = ref + 1
    w.raw(bytes(codecs))
    # Front-coded: names of changed members share long prefixes ("ppt/slideLayouts/").
    previous = b""
    for name in names:
        shared = _shared_prefix(previous, name)
        w.varint(shared)
        w.blob(name[shared:])
        previous = name
    w.varint(len(recipes))
    for recipe_bytes in recipes:
        w.raw(recipe_bytes)
    for crc, usize in raw_truths:
        w.uint(crc, 4)
        w.varint(usize)
    if frame == base_frame:
        w.u8(CODEC_SAME)
        all_pairs = ci_pairs
    else:
        w.u8(CODEC_CI)
        all_pairs = [(base_frame, frame)] + ci_pairs
    w.blob(_encode_ci(all_pairs) if all_pairs else b"")
    w.blob(_dmp_section(dmp_patches))
    w.blob(_chunk_section(chunked))
    return _seal(base_hash, hashlib.sha256(rebuilt).digest(), exact, w.getvalue())


class _Inflow:
    """A member's content, inflated a piece at a time."""

    __slots__ = ("_d", "_tail")

    def __init__(self, raw: bytes) -> None:
        self._d = zlib.decompressobj(-15)
        self._tail = raw

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes of content; fewer only at the end."""
        out = []
        while n > 0 and (self._tail or not self._d.eof):
            piece = self._d.decompress(self._tail, n) if self._tail else self._d.flush()
            self._tail = self._d.unconsumed_tail
            if not piece and not self._tail:
                break
            out.append(piece)
            n -= len(piece)
        return b"".join(out)


def _stream_member(base_raw: bytes, new_raw: bytes, hint: _deflate.Recipe | None
                   ) -> tuple[list[tuple[int, int, int, bytes]], _deflate.Recipe, int, int] | None:
    """Chunks, recipe, CRC and size of a huge member, never holding either content whole.

    Returns None when none of the common recipes reproduces the member (or its
    data is damaged): the caller then takes the ordinary path, which searches
    every recipe on the whole content.
    """
    check = _deflate.StreamCheck(new_raw, [r for r in (hint, _deflate.LIBREOFFICE,
                                                       _deflate.CANONICAL) if r])
    base_in, new_in = _Inflow(base_raw), _Inflow(new_raw)
    window, window_start = bytearray(), 0   # base content from window_start on
    aligned = 0                             # where in the base the next new byte came from
    crc = size = 0
    chunks: list[tuple[int, int, int, bytes]] = []
    try:
        while piece := new_in.read(STREAM_CHUNK):
            crc = zlib.crc32(piece, crc)
            size += len(piece)
            check.feed(piece)
            hi = aligned + len(piece) + STREAM_MARGIN
            if window_start + len(window) < hi:
                window += base_in.read(hi - window_start - len(window))
            # Keep a margin behind the expected place too, to find the way back after
            # an insertion; the piece is encoded against a view that starts where it
            # is expected, so that the encoder matches the common start at once.
            # (Past the end of the base, when content was appended, the view is empty.)
            keep = min(max(aligned - STREAM_MARGIN, window_start), window_start + len(window))
            del window[:keep - window_start]
            window_start = keep
            lo = min(max(aligned, window_start), window_start + len(window))
            view = bytes(window[lo - window_start:hi - window_start])
            if view[:len(piece)] == piece:
                chunks.append((_CHUNK_COPY, lo, len(piece), b""))
                aligned = lo + len(piece)
                continue
            section, copied_to = _copyinsert.encode_pair(view, piece)
            if _ci_mismatches(section, [(view, piece)]):
                section, copied_to = _encode_ci([(b"", piece)]), None
            chunks.append((_CHUNK_CI, lo, len(view), section))
            del view
            expected = lo - window_start + len(piece)
            # Where the piece continues in the base: where its last bytes are found,
            # near, then up to STREAM_LOOKAHEAD ahead (content was deleted); failing
            # that (a renumbered sheet rewrites every fingerprint), where the
            # encoder's last copy ended; failing that, the piece was new content.
            end = _realign(window, piece, expected)
            if end is None:
                want = hi + STREAM_LOOKAHEAD - window_start - len(window)
                if want > 0:
                    window += base_in.read(want)
                tail = piece[-_TAIL:]
                found = window.find(tail, max(0, expected - len(tail)))
                if found >= 0:
                    end = found + len(tail)
                elif copied_to is not None:
                    end = copied_to + lo - window_start
                else:
                    end = lo - window_start
            aligned = window_start + end
    except zlib.error:
        return None
    recipe = check.finish()
    if recipe is None:
        return None
    return chunks, recipe, crc, size


def _realign(buf: bytearray, piece: bytes, expected: int) -> int | None:
    """Where in ``buf`` the byte after ``piece`` most likely came from, or None.

    The piece was expected to end at ``expected``; its last bytes are looked
    for nearest to there, ahead and behind.
    """
    tail = piece[-_TAIL:]
    after = buf.find(tail, max(0, expected - len(tail)))
    before = buf.rfind(tail, 0, max(0, expected))
    best = [p + len(tail) for p in (after, before) if p >= 0]
    if not best:
        return None
    return min(best, key=lambda end: abs(end - expected))


def _chunk_section(chunked: list[list[tuple[int, int, int, bytes]]]) -> bytes:
    w = Writer()
    for member_chunks in chunked:
        w.varint(len(member_chunks))
        expected = 0
        for mode, start, length, section in member_chunks:
            w.u8(mode)
            w.varint(_zigzag(start - expected))
            w.varint(length)
            if mode == _CHUNK_CI:
                w.blob(section)
            expected = start + length
    return w.getvalue()


def _read_chunk_section(section: bytes, count: int) -> list[list[tuple[int, int, int, bytes]]]:
    r = Reader(section, "the chunk section")
    out = []
    for _ in range(count):
        member_chunks = []
        expected = 0
        for _ in range(r.varint(r.remaining)):
            mode = r.u8()
            if mode not in (_CHUNK_COPY, _CHUNK_CI):
                raise r.fail(f"unknown chunk mode {mode}")
            start = expected + _unzigzag(r.varint())
            length = r.varint()
            if start < 0:
                raise r.fail("a chunk starts before its base member")
            section_bytes = r.blob() if mode == _CHUNK_CI else b""
            member_chunks.append((mode, start, length, section_bytes))
            expected = start + length
        out.append(member_chunks)
    r.expect_end()
    return out


def _zigzag(value: int) -> int:
    return value << 1 if value >= 0 else (-value << 1) - 1


def _unzigzag(value: int) -> int:
    return (value >> 1) ^ -(value & 1)


def _shared_prefix(a: bytes, b: bytes) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


# --- reading a delta ----------------------------------------------------------------------


def _is_bytes(data: object) -> bool:
    return isinstance(data, (bytes, bytearray, memoryview))


class _Parsed:
    """A delta's header and its payload, read but not applied."""

    __slots__ = ("base_hash", "result_hash", "exact", "payload", "size")

    def __init__(self, delta: bytes, limits: Limits, base: bytes | None = None) -> None:
        if not _is_bytes(delta):
            raise UnsupportedFormatError(f"a delta is bytes, not {type(delta).__name__}")
        delta = bytes(delta)
        if len(delta) < 4 or delta[:3] != MAGIC:
            raise UnsupportedFormatError(
                "not an edgesync delta (it does not start with the magic bytes 'ESD')")
        if delta[3] != VERSION:
            raise UnsupportedFormatError(
                f"delta format version {delta[3]} is not supported by this edgesync, which "
                f"reads version {VERSION}; upgrade edgesync to apply it")
        if len(delta) < HEADER_SIZE:
            raise CorruptDeltaError(
                f"the delta is truncated: {len(delta)} bytes, shorter than its "
                f"{HEADER_SIZE}-byte header")
        flags = delta[4]
        if flags & ~_KNOWN_FLAGS:
            raise CorruptDeltaError(f"the delta sets unknown flags {flags:#04x}")
        self.exact = bool(flags & _FLAG_EXACT)
        self.base_hash = delta[5:37]
        self.result_hash = delta[37:69]
        self.size = len(delta)
        if base is not None:
            # Before anything else (delta-format.md, section 1): a delta for another
            # base is refused as such, whatever the state of its payload.
            actual = hashlib.sha256(base).digest()
            if actual != self.base_hash:
                raise BaseMismatchError(
                    f"the delta was made for base {self.base_hash.hex()[:16]}…, not for this "
                    f"one ({actual.hex()[:16]}…); make a new delta against this base or send "
                    "the file", expected=self.base_hash.hex(), actual=actual.hex())
        bound = limits.max_expansion * len(delta) + limits.expansion_allowance
        limit_name = "max_expansion"
        if limits.max_content_size < bound:
            bound, limit_name = limits.max_content_size, "max_content_size"
        if flags & _FLAG_STORED:
            if len(delta) - HEADER_SIZE > bound:
                raise LimitExceededError(f"the delta's payload exceeds {bound} bytes",
                                         limit=limit_name)
            self.payload = delta[HEADER_SIZE:]
            return
        d = zlib.decompressobj(-15, zdict=PAYLOAD_DICTIONARY)
        try:
            payload = d.decompress(delta[HEADER_SIZE:], bound + 1)
        except zlib.error as exc:
            raise CorruptDeltaError(f"the delta's payload is damaged ({exc})") from exc
        if len(payload) > bound:
            raise LimitExceededError(
                f"the delta's payload inflates past {bound} bytes (the smaller of "
                f"max_expansion {limits.max_expansion} x {len(delta)} bytes of delta + expansion_allowance, "
                f"and max_content_size {limits.max_content_size})", limit=limit_name)
        if not d.eof:
            raise CorruptDeltaError("the delta is truncated: its payload stream does not end")
        if d.unused_data:
            raise CorruptDeltaError(
                f"the delta has {len(d.unused_data)} unexpected bytes after its payload")
        self.payload = payload


class _Table:
    """The operation table of a ZIP payload."""

    __slots__ = ("n_base", "n_new", "ops", "refs", "codecs", "names", "recipes", "raw_truths",
                 "frame_codec", "ci", "dmp")


def _read_table(r: Reader, limits: Limits) -> _Table:
    t = _Table()
    t.n_base = r.varint()
    t.n_new = r.varint()
    if max(t.n_base, t.n_new) > limits.max_members:
        raise LimitExceededError(
            f"the delta describes archives of {t.n_base} and {t.n_new} members, more than "
            f"max_members ({limits.max_members})", limit="max_members")
    t.ops = list(r.take(t.n_new))
    t.refs = []
    n_content = 0
    expected = 0
    for op in t.ops:
        if op not in OP_NAMES:
            raise r.fail(f"unknown member operation {op}")
        if op != OP_ADD:
            ref = expected + _unzigzag(r.varint())
            if not 0 <= ref <= t.n_base:
                raise r.fail(f"a member refers to base member {ref}, which does not exist")
            expected = ref + 1
            if ref == t.n_base and op != OP_RAW:
                raise r.fail("a member refers to a base member that does not exist")
            t.refs.append(ref)
        else:
            t.refs.append(None)
        if op != OP_KEEP:
            n_content += 1
    t.codecs = list(r.take(n_content))
    for codec, op in zip(t.codecs, (op for op in t.ops if op != OP_KEEP)):
        if codec not in _MEMBER_CODECS:
            raise r.fail(f"unknown member codec {codec}")
        if codec == CODEC_CHUNKED and op != OP_PATCH:
            raise r.fail("only a patched member can be chunked")
    t.names = []
    previous = b""
    for _ in range(n_content):
        shared = r.varint(len(previous))
        previous = previous[:shared] + r.blob(0xFFFF)
        t.names.append(previous)
    t.recipes = []
    t.raw_truths = []
    return t


def describe(delta: bytes, *, limits: Limits | None = None) -> DeltaInfo:
    """What a delta holds, read without its base. See :func:`edgesync.delta.describe`."""
    limits = limits or Limits()
    parsed = _Parsed(delta, limits)
    r = Reader(parsed.payload, "the delta's payload")
    kind = r.varint()
    members: list[MemberInfo] = []
    kept = removed = 0
    if kind == KIND_RAW:
        codec, data = _read_raw_body(r)
        container = "raw"
        size = len(data)
        if codec == CODEC_CI:
            (size,) = _exactly(_copyinsert.target_sizes(data), 1, "copy/insert targets")
        members.append(MemberInfo(name="", operation="patch", codec=CODEC_NAMES[codec],
                                  encoded_size=size))
    elif kind == KIND_ZIP:
        container = "zip"
        t, frame_codec, ci, dmp_section, chunks = _read_zip_payload(r, limits)
        chunk_sizes = iter([sum(len(c[3]) for c in member_chunks) for member_chunks in chunks])
        ci_sizes = _ci_sizes(ci)
        dmp_sizes = [len(p) for p in _read_dmp_section(dmp_section)]
        k_ci = 1 if frame_codec == CODEC_CI else 0
        k_dmp = 0
        content_index = 0
        used = set()
        for op, ref in zip(t.ops, t.refs):
            if ref is not None:
                used.add(ref)
            if op == OP_KEEP:
                kept += 1
                continue
            codec = t.codecs[content_index]
            if codec == CODEC_CI:
                size = ci_sizes[k_ci] if k_ci < len(ci_sizes) else 0
                k_ci += 1
            elif codec == CODEC_DMP:
                size = dmp_sizes[k_dmp] if k_dmp < len(dmp_sizes) else 0
                k_dmp += 1
            elif codec == CODEC_CHUNKED:
                size = next(chunk_sizes)
            else:
                size = 0
            members.append(MemberInfo(
                name=t.names[content_index].decode("utf-8", "replace"),
                operation=OP_NAMES[op], codec=CODEC_NAMES[codec], encoded_size=size))
            content_index += 1
        removed = t.n_base - len(used - {t.n_base})
    else:
        raise r.fail(f"unknown container kind {kind}")
    return DeltaInfo(
        version=VERSION, container=container, base_sha256=parsed.base_hash.hex(),
        result_sha256=parsed.result_hash.hex(), exact=parsed.exact, size=parsed.size,
        members=tuple(members), kept=kept, removed=removed)


def _ci_sizes(section: bytes) -> list[int]:
    return _copyinsert.target_sizes(section) if section else []


def _read_dmp_section(section: bytes) -> list[bytes]:
    r = Reader(section, "the diff-match-patch section")
    out = []
    while r.remaining:
        out.append(r.blob())
    return out


def _read_zip_payload(r: Reader, limits: Limits) -> tuple[_Table, int, bytes, bytes, list]:
    """The operation table, recipes, raw truths, frame codec and the three sections."""
    t = _read_table(r, limits)
    n_recipes = r.varint(t.n_new)
    t.recipes = []
    for _ in range(n_recipes):
        recipe, r.pos = _deflate.Recipe.from_bytes(r.data, r.pos)
        t.recipes.append(recipe)
    n_raw = sum(1 for op in t.ops if op == OP_RAW)
    t.raw_truths = [(r.uint(4), r.varint()) for _ in range(n_raw)]
    frame_codec = r.u8()
    if frame_codec not in (CODEC_SAME, CODEC_CI):
        raise r.fail(f"unknown frame codec {frame_codec}")
    ci, dmp_section, chunk_section = r.blob(), r.blob(), r.blob()
    r.expect_end()
    chunks = _read_chunk_section(chunk_section, t.codecs.count(CODEC_CHUNKED))
    return t, frame_codec, ci, dmp_section, chunks


# --- patch ----------------------------------------------------------------------------------


class _Budget:
    """Counts the bytes a patch produces, refusing to pass the limits."""

    __slots__ = ("left", "limit_name")

    def __init__(self, base: bytes, delta_size: int, limits: Limits) -> None:
        by_ratio = limits.max_expansion * (len(base) + delta_size) + limits.expansion_allowance
        if by_ratio < limits.max_content_size:
            self.left, self.limit_name = by_ratio, "max_expansion"
        else:
            self.left, self.limit_name = limits.max_content_size, "max_content_size"

    def spend(self, n: int, what: str) -> None:
        self.left -= n
        if self.left < 0:
            raise LimitExceededError(
                f"applying the delta would produce more content than allowed ({what}); "
                f"see Limits.{self.limit_name}", limit=self.limit_name)


def patch(base: bytes, delta: bytes, *, limits: Limits | None = None) -> bytes:
    """Apply ``delta`` to ``base``. See :func:`edgesync.delta.patch`."""
    limits = limits or Limits()
    base = bytes(base)
    if _is_bytes(delta) and bytes(delta[:4]) in (b"PK\x03\x04", b"PK\x05\x06"):
        from edgesync.delta import _edgecourier
        return _edgecourier.apply(base, bytes(delta), limits)
    parsed = _Parsed(delta, limits, base)
    budget = _Budget(base, parsed.size, limits)
    r = Reader(parsed.payload, "the delta's payload")
    kind = r.varint()
    if kind == KIND_RAW:
        result = _patch_raw(r, base, budget)
    elif kind == KIND_ZIP:
        result = _patch_zip(r, base, budget, limits)
    else:
        raise r.fail(f"unknown container kind {kind}")
    if len(result) > limits.max_result_size:
        raise LimitExceededError(
            f"the result would be {len(result)} bytes, more than max_result_size "
            f"({limits.max_result_size})", limit="max_result_size")
    if hashlib.sha256(result).digest() != parsed.result_hash:
        raise CorruptDeltaError(
            "the rebuilt file does not match the delta's result hash; the delta is damaged "
            "or was made by a faulty encoder. Nothing was written")
    return result


def _read_raw_body(r: Reader) -> tuple[int, bytes]:
    """The codec of a RAW payload and its data (the rest of the payload)."""
    codec = r.u8()
    if codec not in CODEC_NAMES:
        raise r.fail(f"unknown codec {codec}")
    data = r.take(r.remaining)
    if codec == CODEC_SAME and data:
        raise r.fail(f"{len(data)} unexpected bytes after an unchanged file")
    return codec, data


def _patch_raw(r: Reader, base: bytes, budget: _Budget) -> bytes:
    codec, data = _read_raw_body(r)
    if codec == CODEC_LITERAL:
        budget.spend(len(data), "a literal file")
        return data
    if codec == CODEC_SAME:
        return base
    if codec == CODEC_CI:
        (out,) = _decode_ci(data, [base], budget, 1)
        return out
    out = _dmp.decode(data, base, "the file's patch")
    budget.spend(len(out), "the patched file")
    return out


def _exactly(items: list, n: int, what: str) -> list:
    if len(items) != n:
        raise CorruptDeltaError(f"the delta holds {len(items)} {what} where {n} are needed")
    return items


def _decode_ci(section: bytes, bases: list[bytes], budget: _Budget, n: int) -> list[bytes]:
    if not n:
        if section:
            raise CorruptDeltaError("the delta holds a copy/insert section nothing uses")
        return []
    try:
        outs = _copyinsert.decode(section, bases, max_output=max(budget.left, 0))
    except LimitExceededError as exc:
        raise LimitExceededError(
            f"applying the delta would produce more content than allowed ({exc}); see "
            f"Limits.{budget.limit_name}", limit=budget.limit_name) from exc
    _exactly(outs, n, "copy/insert targets")
    budget.spend(sum(map(len, outs)), "copy/insert targets")
    return outs


def _patch_zip(r: Reader, base: bytes, budget: _Budget, limits: Limits) -> bytes:
    t, frame_codec, ci, dmp_section, chunks = _read_zip_payload(r, limits)
    try:
        base_zip = _zip.parse(base)
    except _zip.NotModelled as exc:
        raise CorruptDeltaError(f"the delta describes a ZIP, but its base is not one ({exc})") \
            from exc
    if len(base_zip.entries) != t.n_base:
        raise CorruptDeltaError(
            f"the delta expects a base of {t.n_base} members; this base has "
            f"{len(base_zip.entries)}")
    base_entries = base_zip.entries

    def base_raw(ref: int) -> bytes:
        e = base_entries[ref]
        return base[e.data_start:e.data_end]

    def base_content(ref: int) -> bytes:
        e = base_entries[ref]
        if e.method == _STORED:
            return base_raw(ref)
        if e.method != _DEFLATED:
            raise CorruptDeltaError("the delta patches the content of a base member that is "
                                    "neither stored nor deflated")
        content = inflate(base_raw(ref), max(budget.left, 0), "a base member",
                           budget.limit_name)
        budget.spend(len(content), "base members")
        return content

    # Gather the bases of every copy/insert target, in the order the encoder wrote them.
    base_frame = _zip.write_frame(base_zip, _zip.directory_truths(base_zip))
    ci_bases: list[bytes] = [base_frame] if frame_codec == CODEC_CI else []
    member_bases: list[bytes | None] = []
    content_index = 0
    for op, ref in zip(t.ops, t.refs):
        if op == OP_KEEP:
            member_bases.append(None)
            continue
        if op == OP_ADD:
            b = b""
        elif op == OP_RAW:
            b = b"" if ref == t.n_base else base_raw(ref)
        else:
            b = base_content(ref)
        member_bases.append(b)
        if t.codecs[content_index] == CODEC_CI:
            ci_bases.append(b)
        content_index += 1
    ci_outs = _decode_ci(ci, ci_bases, budget, len(ci_bases))
    dmp_patches = _read_dmp_section(dmp_section)
    frame = ci_outs.pop(0) if frame_codec == CODEC_CI else base_frame
    new_zip = _zip.read_frame(frame, max_members=limits.max_members)
    if len(new_zip.entries) != t.n_new:
        raise CorruptDeltaError(f"the delta's frame describes {len(new_zip.entries)} members "
                                f"where its table has {t.n_new}")

    datas: list[bytes] = []
    truths: list[_zip.Truth] = []
    ci_iter, dmp_iter, recipe_iter = iter(ci_outs), iter(dmp_patches), iter(t.recipes)
    chunk_iter = iter(chunks)
    raw_iter = iter(t.raw_truths)
    content_index = 0
    for entry, op, ref, b in zip(new_zip.entries, t.ops, t.refs, member_bases):
        if op == OP_KEEP:
            data = base_raw(ref)
            bc = base_zip.central[base_entries[ref].central]
            datas.append(data)
            truths.append(_zip.Truth(bc.crc, bc.usize, len(data)))
            continue
        codec = t.codecs[content_index]
        what = f"member {entry.name.decode('utf-8', 'replace')!r}"
        content_index += 1
        if codec == CODEC_SAME:
            content = b
        elif codec == CODEC_CI:
            content = _next(ci_iter, "copy/insert targets")
        elif codec == CODEC_CHUNKED:
            content = _unchunk(next(chunk_iter), b, budget, what)
        else:
            content = _dmp.decode(_next(dmp_iter, "diff-match-patch patches"), b, what)
            budget.spend(len(content), what)
        if op == OP_RAW:
            crc, usize = _next(raw_iter, "raw member records")
            datas.append(content)
            truths.append(_zip.Truth(crc, usize, len(content)))
            continue
        if entry.method == _DEFLATED:
            data = _deflate.deflate(content, _next(recipe_iter, "deflate recipes"))
        elif entry.method == _STORED:
            data = content
        else:
            raise CorruptDeltaError(f"{what} uses compression method {entry.method}, which "
                                    "only a raw member may use")
        datas.append(data)
        truths.append(_zip.Truth(zlib.crc32(content), len(content), len(data)))
    for leftover, what in ((ci_iter, "copy/insert targets"), (dmp_iter, "dmp patches"),
                           (recipe_iter, "deflate recipes"), (raw_iter, "raw member records")):
        if next(leftover, None) is not None:
            raise CorruptDeltaError(f"the delta holds more {what} than its members use")
    return _zip.build(new_zip, datas, truths)


def _unchunk(member_chunks: list[tuple[int, int, int, bytes]], base: bytes, budget: _Budget,
             what: str) -> bytes:
    """A CHUNKED member's content: each chunk copied or decoded from its slice of the base."""
    out = []
    for mode, start, length, section in member_chunks:
        if start + length > len(base):
            raise CorruptDeltaError(f"{what}: a chunk reaches past the end of its base member")
        if mode == _CHUNK_COPY:
            budget.spend(length, what)
            out.append(base[start:start + length])
        else:
            out += _decode_ci(section, [base[start:start + length]], budget, 1)
    return b"".join(out)


def _next(it, what: str):
    try:
        return next(it)
    except StopIteration:
        raise CorruptDeltaError(f"the delta holds too few {what}") from None
