"""Tests of edgesync.delta._deflate: recipes, their wire form, search and replay.

Every stream here is made by the tests themselves (zlib with known parameters,
or a small bit writer for streams zlib cannot produce).
"""

from __future__ import annotations

import random
import zlib

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgesync.delta import _deflate
from edgesync.delta._deflate import (
    CANONICAL,
    LIBREOFFICE_BLOCK_SIZE,
    LIBREOFFICE_DICT_SIZE,
    Recipe,
    deflate,
    find_recipe,
)
from edgesync.errors import CorruptDeltaError
from tests.delta.strategies import BitWriter

BLOCK = LIBREOFFICE_BLOCK_SIZE
LIBREOFFICE = Recipe(6, block_size=BLOCK, dict_size=LIBREOFFICE_DICT_SIZE)

_WORDS = ("the", "cell", "row", "style", "table", "paragraph", "text", "span", "office",
          "value", "number", "string", "sheet", "column", "width", "height", "font",
          "bold", "italic", "list", "item", "page", "section", "frame", "draw")


def text(size: int, seed: int = 0) -> bytes:
    """XML-like filler: compressible, with matches near and far."""
    rng = random.Random(seed)
    parts: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(_WORDS)
        piece = (f'<text:{word} text:style-name="P{rng.randrange(40)}">'
                 f"{rng.choice(_WORDS)} {rng.randrange(100000)}</text:{word}>\n")
        parts.append(piece)
        length += len(piece)
    return "".join(parts).encode()[:size]


def noise(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def zlib_deflate(content: bytes, level: int = 6, memlevel: int = 8,
                 strategy: int = zlib.Z_DEFAULT_STRATEGY, wbits: int = 15) -> bytes:
    """What any zlib-based writer produces for these parameters."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -wbits, memlevel, strategy)
    return compressor.compress(content) + compressor.flush()


def libreoffice_deflate(content: bytes, level: int = 6) -> bytes:
    """LibreOffice's ThreadedDeflater, written out plainly (one block at a time)."""
    if not content:
        return zlib_deflate(content, level)
    out = []
    for start in range(0, len(content), BLOCK):
        if start:
            compressor = zlib.compressobj(level, zlib.DEFLATED, -15, 8, 0,
                                          zdict=content[start - LIBREOFFICE_DICT_SIZE:start])
        else:
            compressor = zlib.compressobj(level, zlib.DEFLATED, -15, 8, 0)
        last = start + BLOCK >= len(content)
        out.append(compressor.compress(content[start:start + BLOCK])
                   + compressor.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH))
    return b"".join(out)


def inflate(raw: bytes) -> bytes:
    decompressor = zlib.decompressobj(-15)
    content = decompressor.decompress(raw)
    assert decompressor.eof and not decompressor.unused_data
    return content


# --- Recipe -------------------------------------------------------------------


def test_canonical_is_zlib_level_6() -> None:
    assert CANONICAL == Recipe(level=6)
    assert (CANONICAL.memlevel, CANONICAL.strategy, CANONICAL.wbits) == (8, 0, 15)
    assert (CANONICAL.block_size, CANONICAL.dict_size) == (0, 0)


@pytest.mark.parametrize("kwargs", [
    {"level": -1}, {"level": 10}, {"level": True}, {"level": 6.0},
    {"level": 6, "memlevel": 0}, {"level": 6, "memlevel": 10},
    {"level": 6, "strategy": -1}, {"level": 6, "strategy": 5},
    {"level": 6, "wbits": 8}, {"level": 6, "wbits": 16}, {"level": 6, "wbits": -15},
    {"level": 6, "block_size": 1}, {"level": 6, "block_size": 32767},
    {"level": 6, "block_size": (1 << 30) + 1},
    {"level": 6, "dict_size": 32768},  # a dictionary without blocks
    {"level": 6, "block_size": BLOCK, "dict_size": 32769},
    {"level": 6, "block_size": BLOCK, "dict_size": -1},
    {"level": 0, "block_size": BLOCK, "dict_size": 32768},
])
def test_recipe_rejects_invalid_fields(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Recipe(**kwargs)


def _block_layouts() -> list[tuple[int, int]]:
    return [(0, 0), (BLOCK, LIBREOFFICE_DICT_SIZE), (BLOCK, 0), (65536, 32768),
            (32768, 1), (1 << 30, 32768), (BLOCK + 1, 12345)]


def _all_recipes() -> list[Recipe]:
    recipes = []
    for level in range(10):
        for memlevel in range(1, 10):
            for strategy in range(5):
                for wbits in range(9, 16):
                    for block_size, dict_size in _block_layouts():
                        if level == 0 and block_size:
                            continue
                        recipes.append(Recipe(level, memlevel, strategy, wbits, block_size,
                                              dict_size))
    return recipes


def test_to_bytes_round_trips_every_valid_recipe() -> None:
    seen = set()
    for recipe in _all_recipes():
        data = recipe.to_bytes()
        assert data not in seen
        seen.add(data)
        assert Recipe.from_bytes(data) == (recipe, len(data))
        # Self-delimiting: found again in the middle of other bytes.
        assert Recipe.from_bytes(b"\xff\x07" + data + b"\x80\x80", 2) == (recipe, 2 + len(data))
        # Views of a larger buffer work like bytes.
        assert Recipe.from_bytes(memoryview(b"x" + data)[1:]) == (recipe, len(data))
        common = (recipe.block_size, recipe.dict_size) in ((0, 0), (BLOCK, 32768))
        assert (len(data) == 2) == common


def test_common_recipes_take_two_bytes() -> None:
    assert CANONICAL.to_bytes() == bytes((0x06, 0x68))
    assert LIBREOFFICE.to_bytes() == bytes((0x06, 0xE8))
    assert len(Recipe(9, 9, zlib.Z_FIXED, 9).to_bytes()) == 2


def test_from_bytes_rejects_every_truncation() -> None:
    for recipe in (CANONICAL, LIBREOFFICE, Recipe(3, block_size=1 << 30, dict_size=32768),
                   Recipe(6, block_size=65536, dict_size=0)):
        data = recipe.to_bytes()
        for cut in range(len(data)):
            with pytest.raises(CorruptDeltaError):
                Recipe.from_bytes(data[:cut])
            with pytest.raises(CorruptDeltaError):
                Recipe.from_bytes(b"pad" + data[:cut], 3)


@pytest.mark.parametrize("data", [
    bytes((0x0A, 0x68)),  # level 10
    bytes((0x0F, 0x68)),  # level 15
    bytes((0x56, 0x68)),  # strategy 5
    bytes((0x76, 0x68)),  # strategy 7
    bytes((0x06, 0x60)),  # memlevel 0
    bytes((0x06, 0x6A)),  # memlevel 10
    bytes((0x06, 0x7F)),  # memlevel 15, wbits 16
    bytes((0x06, 0x78)),  # wbits 16
    bytes((0x86, 0x68, 0x80, 0x80, 0x02, 0x00)),  # block sizes without the block flag
    bytes((0x00, 0xE8)),  # level 0, block-parallel
    bytes((0x86, 0xE8, 0x80, 0x80, 0x08, 0x80, 0x80, 0x02)),  # LibreOffice's sizes, spelt out
    bytes((0x86, 0xE8, 0x80, 0x80, 0x04, 0x80, 0x00)),  # non-minimal varint
    bytes((0x86, 0xE8, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x00)),  # varint too long
    bytes((0x86, 0xE8, 0x00, 0x00)),  # block size 0
    bytes((0x86, 0xE8, 0x01, 0x00)),  # block size 1
    bytes((0x86, 0xE8, 0xFF, 0xFF, 0x01, 0x00)),  # block size 32767
    bytes((0x86, 0xE8, 0x81, 0x80, 0x80, 0x80, 0x04, 0x00)),  # block size 2**30 + 1
    bytes((0x86, 0xE8, 0x80, 0x80, 0x04, 0x81, 0x80, 0x02)),  # dictionary 32769
    b"",
    b"\x06",
])
def test_from_bytes_rejects_invalid_encodings(data: bytes) -> None:
    with pytest.raises(CorruptDeltaError):
        Recipe.from_bytes(data)


@pytest.mark.parametrize("offset", [-1, 3, 100])
def test_from_bytes_rejects_offsets_outside_the_data(offset: int) -> None:
    with pytest.raises(CorruptDeltaError):
        Recipe.from_bytes(CANONICAL.to_bytes(), offset)


@given(st.binary(max_size=12))
def test_from_bytes_accepts_only_canonical_encodings(data: bytes) -> None:
    try:
        recipe, end = Recipe.from_bytes(data)
    except CorruptDeltaError:
        return
    assert recipe.to_bytes() == data[:end]


# --- deflate --------------------------------------------------------------------

SIZES = [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 5]

ROUND_TRIP_RECIPES = [
    Recipe(0), Recipe(1), Recipe(6), Recipe(9),
    Recipe(4, memlevel=1, strategy=zlib.Z_FILTERED, wbits=9),
    Recipe(6, strategy=zlib.Z_HUFFMAN_ONLY), Recipe(6, strategy=zlib.Z_RLE),
    Recipe(7, memlevel=9, strategy=zlib.Z_FIXED, wbits=12),
    LIBREOFFICE,
    attrs.evolve(LIBREOFFICE, level=1),
    Recipe(9, memlevel=9, block_size=65536, dict_size=32768),
    Recipe(6, block_size=BLOCK, dict_size=0),
    Recipe(3, wbits=10, block_size=40000, dict_size=50),
]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("recipe", ROUND_TRIP_RECIPES, ids=str)
def test_deflate_round_trips(recipe: Recipe, size: int) -> None:
    content = text(size, seed=size)
    raw = deflate(content, recipe)
    assert inflate(raw) == content
    assert deflate(bytearray(content), recipe) == raw
    assert deflate(memoryview(content), recipe) == raw


@pytest.mark.parametrize("size", SIZES)
def test_block_parallel_is_libreoffices_layout(size: int) -> None:
    content = text(size, seed=size + 1)
    assert deflate(content, LIBREOFFICE) == libreoffice_deflate(content)
    assert deflate(content, attrs.evolve(LIBREOFFICE, level=2)) == libreoffice_deflate(content, 2)


def test_block_parallel_ends_each_block_with_a_sync_flush() -> None:
    content = text(3 * BLOCK + 5, seed=3)
    raw = deflate(content, LIBREOFFICE)
    decompressor = zlib.decompressobj(-15)
    # Each block's bytes end aligned with the empty stored block of a flush,
    # so the stream inflates up to exactly that block's end.
    offset = 0
    for start in range(0, 2 * BLOCK + 1, BLOCK):
        piece = _deflate._compress_block(memoryview(content), start, LIBREOFFICE)
        assert piece.endswith(b"\x00\x00\xff\xff")
        assert raw[offset:offset + len(piece)] == piece
        assert decompressor.decompress(piece) == content[start:start + BLOCK]
        offset += len(piece)


def test_at_most_one_block_is_a_single_stream() -> None:
    for size in (0, 1, BLOCK - 1, BLOCK):
        content = text(size, seed=7)
        assert deflate(content, LIBREOFFICE) == zlib_deflate(content)


def test_empty_content() -> None:
    assert deflate(b"", CANONICAL) == b"\x03\x00"
    assert deflate(b"", LIBREOFFICE) == b"\x03\x00"
    assert deflate(b"", Recipe(9, 1, zlib.Z_FIXED, 9)) == b"\x03\x00"
    assert deflate(b"", Recipe(0)) == b"\x01\x00\x00\xff\xff"
    assert find_recipe(b"\x03\x00", b"") == CANONICAL
    assert find_recipe(b"\x01\x00\x00\xff\xff", b"") == Recipe(0)
    assert find_recipe(b"\x03\x00", b"x") is None
    assert find_recipe(b"", b"") is None


def test_level_0_writes_full_stored_blocks() -> None:
    content = noise(3 * 65535 + 7)
    raw = deflate(content, Recipe(0))
    assert len(raw) == len(content) + 4 * 5
    assert raw[:5] == b"\x00\xff\xff\x00\x00"
    assert raw[-12:-7] == b"\x01\x07\x00\xf8\xff"
    assert inflate(raw) == content
    exact = noise(65535)
    assert deflate(exact, Recipe(0)) == b"\x01\xff\xff\x00\x00" + exact


def test_threads_do_not_change_the_output(monkeypatch: pytest.MonkeyPatch) -> None:
    content = text(5 * BLOCK + 17, seed=11)
    threaded = deflate(content, LIBREOFFICE)
    monkeypatch.setattr(_deflate, "_executor", lambda: None)
    assert deflate(content, LIBREOFFICE) == threaded
    assert find_recipe(threaded, content) == LIBREOFFICE


# --- find_recipe ------------------------------------------------------------------

FOUND_RECIPES = [
    Recipe(1), Recipe(2), Recipe(3), Recipe(4), Recipe(5), Recipe(6), Recipe(7), Recipe(8),
    Recipe(9),
    Recipe(6, memlevel=9), Recipe(1, memlevel=9), Recipe(6, memlevel=5), Recipe(9, memlevel=1),
    Recipe(6, strategy=zlib.Z_FILTERED), Recipe(9, memlevel=7, strategy=zlib.Z_FILTERED),
    Recipe(6, strategy=zlib.Z_FIXED), Recipe(1, memlevel=6, strategy=zlib.Z_FIXED),
    Recipe(6, strategy=zlib.Z_RLE), Recipe(6, memlevel=4, strategy=zlib.Z_HUFFMAN_ONLY),
    Recipe(6, wbits=14), Recipe(6, wbits=12), Recipe(6, wbits=9), Recipe(1, wbits=11),
    Recipe(7, memlevel=7, wbits=13), Recipe(5, memlevel=6, strategy=zlib.Z_FILTERED, wbits=10),
]


@pytest.mark.parametrize("recipe", FOUND_RECIPES, ids=str)
def test_find_recipe_recovers_zlib_parameters(recipe: Recipe) -> None:
    content = text(200_000, seed=recipe.level * 100 + recipe.memlevel)
    raw = zlib_deflate(content, recipe.level, recipe.memlevel, recipe.strategy, recipe.wbits)
    assert deflate(content, recipe) == raw
    assert find_recipe(raw, content) == recipe


@pytest.mark.parametrize("recipe", [Recipe(6), Recipe(1), Recipe(9, memlevel=9),
                                    Recipe(6, wbits=10)], ids=str)
def test_find_recipe_on_incompressible_content(recipe: Recipe) -> None:
    content = noise(150_000, seed=recipe.level)
    raw = deflate(content, recipe)
    found = find_recipe(raw, content)
    assert found is not None
    assert deflate(content, found) == raw


@pytest.mark.parametrize("size", [BLOCK + 1, 3 * BLOCK + 5, 1_000_001, 2_000_000])
def test_find_recipe_recognises_libreoffice_blocks(size: int) -> None:
    content = text(size, seed=size)
    raw = libreoffice_deflate(content)
    assert find_recipe(raw, content) == LIBREOFFICE
    # A single stream of the same content is told apart.
    assert find_recipe(zlib_deflate(content), content) == CANONICAL


def test_find_recipe_finds_block_parallel_writers_at_other_levels() -> None:
    content = text(3 * BLOCK, seed=5)
    raw = libreoffice_deflate(content, level=1)
    assert find_recipe(raw, content) == attrs.evolve(LIBREOFFICE, level=1)


def test_find_recipe_finds_level_0() -> None:
    for content in (b"", b"a", noise(200_000)):
        assert find_recipe(deflate(content, Recipe(0)), content) == Recipe(0)


def test_find_recipe_tries_the_hint_first() -> None:
    content = text(300_000, seed=9)
    unusual = Recipe(4, memlevel=3, strategy=zlib.Z_FIXED, wbits=11, block_size=65536,
                     dict_size=1000)
    raw = deflate(content, unusual)
    assert find_recipe(raw, content, hint=unusual) == unusual
    # The search does not try arbitrary block sizes on its own.
    assert find_recipe(raw, content) is None
    # A wrong hint costs nothing but its own check.
    assert find_recipe(zlib_deflate(content, 9), content, hint=unusual) == Recipe(9)


def test_find_recipe_rejects_a_stream_zlib_cannot_write() -> None:
    head, tail = text(5000, seed=1), b"abcabcabcabc" * 40
    writer = BitWriter()
    writer.stored(head, final=False)
    writer.fixed_literals(tail, final=True)
    raw = writer.getvalue()
    assert inflate(raw) == head + tail
    assert find_recipe(raw, head + tail) is None


def test_find_recipe_rejects_a_literal_only_stream() -> None:
    content = b"abc" * 30
    writer = BitWriter()
    writer.fixed_literals(content, final=True)
    raw = writer.getvalue()
    assert inflate(raw) == content
    assert find_recipe(raw, content) is None


@pytest.mark.parametrize("split", [1000, 50_000, 150_001])
def test_find_recipe_rejects_another_block_split(split: int) -> None:
    content = text(300_000, seed=split)
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    raw = (compressor.compress(content[:split]) + compressor.flush(zlib.Z_FULL_FLUSH)
           + compressor.compress(content[split:]) + compressor.flush())
    assert inflate(raw) == content
    assert find_recipe(raw, content) is None


def test_find_recipe_rejects_other_stored_layouts() -> None:
    content = noise(60_000, seed=2)
    writer = BitWriter()
    writer.stored(content[:32768], final=False)
    writer.stored(content[32768:], final=True)
    raw = writer.getvalue()
    assert inflate(raw) == content
    assert find_recipe(raw, content) is None


def test_find_recipe_rejects_damage() -> None:
    content = text(100_000, seed=4)
    raw = zlib_deflate(content)
    assert find_recipe(raw, content[:-1]) is None
    assert find_recipe(raw, content + b"x") is None
    assert find_recipe(raw[:-1], content) is None
    assert find_recipe(raw + b"\x00", content) is None
    assert find_recipe(noise(1000), content) is None
    damaged = bytearray(raw)
    damaged[len(raw) // 2] ^= 0x10
    assert find_recipe(bytes(damaged), content) is None
    assert find_recipe(b"\x07", b"") is None  # reserved block type


def test_find_recipe_accepts_bytes_like_arguments() -> None:
    content = text(20_000, seed=8)
    raw = zlib_deflate(content, 9)
    assert find_recipe(memoryview(raw), bytearray(content)) == Recipe(9)


_recipes = st.builds(
    Recipe,
    level=st.integers(1, 9),
    memlevel=st.integers(1, 9),
    strategy=st.integers(0, 4),
    wbits=st.integers(9, 15),
)


@given(recipe=_recipes, size=st.integers(0, 70_000), seed=st.integers(0, 2**16),
       compressible=st.booleans())
def test_find_recipe_reproduces_what_zlib_wrote(recipe: Recipe, size: int, seed: int,
                                                compressible: bool) -> None:
    content = text(size, seed) if compressible else noise(size, seed)
    raw = zlib_deflate(content, recipe.level, recipe.memlevel, recipe.strategy, recipe.wbits)
    found = find_recipe(raw, content)
    assert found is not None
    assert deflate(content, found) == raw


_DAMAGE_BASES = [zlib_deflate(text(3000, 1), level, memlevel, strategy)
                 for level in (1, 6) for memlevel in (1, 8) for strategy in range(5)]


@given(base=st.sampled_from(_DAMAGE_BASES), edits=st.lists(
    st.tuples(st.integers(0, 10**6), st.integers(0, 255), st.booleans()), min_size=1,
    max_size=4))
def test_find_recipe_survives_damaged_streams(base: bytes,
                                              edits: list[tuple[int, int, bool]]) -> None:
    raw = bytearray(base)
    for position, value, truncate in edits:
        if not raw:
            break
        position %= len(raw)
        if truncate:
            del raw[position:]
        else:
            raw[position] ^= value
    content = text(3000, 1)
    found = find_recipe(bytes(raw), content)
    assert found is None or deflate(content, found) == raw
