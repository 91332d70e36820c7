"""A ZIP document as one uncompressed stream, and back: the "unzipped stream" of the benchmarks.

:func:`explode` writes the frame of :mod:`edgesync.delta._zip`, then each
member's content inflated in place with the deflate recipe that reproduces
its compressed bytes; :func:`implode` rebuilds the archive, byte for byte
when every recipe was found. General-purpose delta tools (xdelta3, zstd)
run on two such streams make the "unzip, delta, rebuild exactly" peer that
``benchmarks/delta_bench.py`` measures edgesync against. A file that is not
a modelled ZIP is carried as it is.
"""

from __future__ import annotations

import zlib

from edgesync.delta import _deflate, _zip
from edgesync.delta._wire import Reader, Writer

__all__ = ["explode", "implode"]

_MAGIC = b"ESX1"
_AS_IS, _ZIP = 0, 1
_STORED, _RECIPE, _RAW = 0, 1, 2


def explode(data: bytes) -> bytes:
    """The document as one stream: frame, then members inflated in place."""
    w = Writer()
    w.raw(_MAGIC)
    try:
        archive = _zip.parse(data)
    except _zip.NotModelled:
        w.varint(_AS_IS)
        w.raw(data)
        return w.getvalue()
    w.varint(_ZIP)
    truths = [_zip.Truth(archive.central[e.central].crc, archive.central[e.central].usize,
                         e.data_end - e.data_start) for e in archive.entries]
    w.blob(_zip.write_frame(archive, truths))
    hint = None
    for entry, truth in zip(archive.entries, truths):
        raw = data[entry.data_start:entry.data_end]
        recipe = None
        if entry.method == 8:
            try:
                content = zlib.decompressobj(-15).decompress(raw)
            except zlib.error:
                content = None
            if content is not None:
                recipe = _deflate.find_recipe(raw, content, hint=hint)
        if entry.method == 0:
            w.u8(_STORED)
            w.blob(raw)
        elif recipe is not None:
            hint = recipe
            w.u8(_RECIPE)
            w.raw(recipe.to_bytes())
            w.blob(content)
        else:
            w.u8(_RAW)
            w.uint(truth.crc, 4)
            w.varint(truth.usize)
            w.blob(raw)
    return w.getvalue()


def implode(stream: bytes) -> bytes:
    """The document :func:`explode` was given."""
    r = Reader(stream, "the unzipped stream")
    if r.take(4) != _MAGIC:
        raise r.fail("bad magic")
    if r.varint() == _AS_IS:
        return r.take(r.remaining)
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
