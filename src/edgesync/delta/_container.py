"""A ZIP document as one uncompressed stream, and back: the "unzipped stream" of the benchmarks.

General-purpose delta tools (xdelta3, zstd) run on two such streams make the
"unzip, delta, rebuild exactly" peers that ``benchmarks/delta_bench.py``
measures edgesync against. Two layouts:

- ``"inplace"`` (the reference peer of ``shared/reference/baseline.md``): the
  archive as it is, every member's compressed data replaced by its content
  inflated in place, headers and directory verbatim, after a table of deflate
  recipes and lengths;
- ``"frame"``: edgesync's own frame (derived fields left out, columns), then
  the members' contents. A stronger peer, since it borrows edgesync's frame.

:func:`implode` rebuilds the archive, byte for byte when every recipe was
found. A file that is not a modelled ZIP is carried as it is.
"""

from __future__ import annotations

import zlib

from edgesync.delta import _deflate, _zip
from edgesync.delta._wire import Reader, Writer

__all__ = ["explode", "implode"]

_MAGIC = b"ESX1"
_AS_IS, _ZIP, _INPLACE = 0, 1, 2
_STORED, _RECIPE, _RAW = 0, 1, 2


def explode(data: bytes, layout: str = "inplace") -> bytes:
    """The document as one stream, in ``layout`` ``"inplace"`` or ``"frame"``."""
    w = Writer()
    w.raw(_MAGIC)
    try:
        archive = _zip.parse(data)
    except _zip.NotModelled:
        w.varint(_AS_IS)
        w.raw(data)
        return w.getvalue()
    if layout == "inplace":
        return _explode_inplace(data, archive, w)
    if layout != "frame":
        raise ValueError(f"unknown layout {layout!r}")
    w.varint(_ZIP)
    truths = _zip.directory_truths(archive)
    w.blob(_zip.write_frame(archive, truths))
    hint = None
    for entry, truth in zip(archive.entries, truths):
        body, recipe = _member(data, entry, hint)
        if entry.method == 0:
            w.u8(_STORED)
            w.blob(body)
        elif recipe is not None:
            hint = recipe
            w.u8(_RECIPE)
            w.raw(recipe.to_bytes())
            w.blob(body)
        else:
            w.u8(_RAW)
            w.uint(truth.crc, 4)
            w.varint(truth.usize)
            w.blob(body)
    return w.getvalue()


def _member(data: bytes, entry: _zip.Entry, hint: _deflate.Recipe | None
            ) -> tuple[bytes, _deflate.Recipe | None]:
    """(content, recipe) of a deflated member whose recipe is found, else (raw, None)."""
    raw = data[entry.data_start:entry.data_end]
    if entry.method != 8:
        return raw, None
    try:
        content = zlib.decompressobj(-15).decompress(raw)
    except zlib.error:
        return raw, None
    recipe = _deflate.find_recipe(raw, content, hint=hint)
    return (content, recipe) if recipe is not None else (raw, None)


def _explode_inplace(data: bytes, archive: _zip.Archive, w: Writer) -> bytes:
    w.varint(_INPLACE)
    w.varint(len(archive.entries))
    pieces = []
    pos, hint = 0, None
    for entry in archive.entries:
        body, recipe = _member(data, entry, hint)
        if recipe is None:
            w.u8(0)
        else:
            hint = recipe
            w.u8(1)
            w.raw(recipe.to_bytes())
        w.varint(len(body))
        w.varint(entry.data_start - pos)
        pieces += (data[pos:entry.data_start], body)
        pos = entry.data_end
    pieces.append(data[pos:])
    return w.getvalue() + b"".join(pieces)


def _implode_inplace(r: Reader) -> bytes:
    n = r.varint()
    table = []
    for _ in range(n):
        recipe = None
        if r.u8():
            recipe, r.pos = _deflate.Recipe.from_bytes(r.data, r.pos)
        table.append((recipe, r.varint(), r.varint()))
    out = []
    for recipe, size, gap in table:
        out.append(r.take(gap))
        body = r.take(size)
        out.append(_deflate.deflate(body, recipe) if recipe is not None else body)
    out.append(r.take(r.remaining))
    return b"".join(out)


def implode(stream: bytes) -> bytes:
    """The document :func:`explode` was given."""
    r = Reader(stream, "the unzipped stream")
    if r.take(4) != _MAGIC:
        raise r.fail("bad magic")
    kind = r.varint()
    if kind == _AS_IS:
        return r.take(r.remaining)
    if kind == _INPLACE:
        return _implode_inplace(r)
    archive = _zip.read_frame(r.blob(), max_members=1 << 20)
    datas, truths = [], []
    for _entry in archive.entries:
        mode = r.u8()
        if mode == _STORED:
            data = r.blob()
            truths.append(_zip.Truth(zlib.crc32(data), len(data), len(data)))
        elif mode == _RECIPE:
            recipe, r.pos = _deflate.Recipe.from_bytes(r.data, r.pos)
            content = r.blob()
            data = _deflate.deflate(content, recipe)
            truths.append(_zip.Truth(zlib.crc32(content), len(content), len(data)))
        elif mode == _RAW:
            crc, usize = r.uint(4), r.varint()
            data = r.blob()
            truths.append(_zip.Truth(crc, usize, len(data)))
        else:
            raise r.fail(f"unknown member mode {mode}")
        datas.append(data)
    r.expect_end()
    return _zip.build(archive, datas, truths)
