"""Huge members diffed as a stream (CHUNKED), exercised with small thresholds.

The engine streams members over ``STREAM_THRESHOLD`` (16 MiB); here the
thresholds shrink so that a 300 KB sheet takes the same path:

    sheet.xml  ~300 KB   chunks of 16 KiB of new content, each against a base
                          window reaching 4 KiB either side of where it came from
"""

from __future__ import annotations

import functools
import hashlib
import random
import re
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgesync.delta import Limits, _deflate, _engine, describe, diff, patch
from edgesync.errors import DeltaError
from tests.delta import strategies as zs


@pytest.fixture(autouse=True)
def small_streams(monkeypatch):
    monkeypatch.setattr(_engine, "STREAM_THRESHOLD", 64 * 1024)
    monkeypatch.setattr(_engine, "STREAM_CHUNK", 16 * 1024)
    monkeypatch.setattr(_engine, "STREAM_MARGIN", 4 * 1024)
    monkeypatch.setattr(_engine, "STREAM_LOOKAHEAD", 64 * 1024)


def sheet(rows: int = 3000, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    return b"<sheet>" + b"".join(
        b'<row r="%d"><c r="A%d"><v>%d</v></c><c r="B%d" t="s"><v>%d</v></c></row>'
        % (i, i, rng.randrange(10**6), i, rng.randrange(400)) for i in range(1, rows + 1)
    ) + b"</sheet>"


def archive(content: bytes, *, raw: bytes | None = None) -> bytes:
    return zs.write_zip([zs.stored("mimetype", b"application/x-test"),
                         zs.deflated("sheet.xml", content, raw=raw),
                         zs.stored("meta.xml", b"<meta/>")])


def insert_row(content: bytes, at: int) -> bytes:
    cut = content.index(b"<row", at)
    return content[:cut] + b'<row r="0"><c r="A0"><v>42</v></c></row>' + content[cut:]


def renumber_from(content: bytes, first: int) -> bytes:
    """Every row number from ``first`` on one higher, as a row inserted above them does."""
    return re.sub(rb'(r="[AB]?)(\d+)"', lambda m: b'%s%d"' % (
        m.group(1), int(m.group(2)) + (int(m.group(2)) >= first)), content)


BASE = sheet()
EDITS = {
    "renumbered from the top": renumber_from(BASE, 5),
    "cell": BASE.replace(b"<v>7</v>", b"<v>8</v>", 1) if b"<v>7</v>" in BASE
    else BASE[:150_000] + b"9" + BASE[150_001:],
    "insert near the start": insert_row(BASE, 1000),
    "insert past every margin": BASE[:50_000] + b"<pad>" + b"x" * 20_000 + b"</pad>"
    + BASE[50_000:],
    "delete past every margin": BASE[:40_000] + BASE[70_000:],
    "delete past the lookahead": BASE[:40_000] + BASE[140_000:],
    "scattered": bytes(b if i % 9973 else 0x39 for i, b in enumerate(BASE)),
    "appended": BASE + b"<more/>" * 3000,
    "truncated": BASE[:200_000],
}


@pytest.mark.parametrize("edit", EDITS)
def test_streamed_member_round_trips_exactly(edit):
    old, new = archive(BASE), archive(EDITS[edit])
    delta = diff(old, new)
    info = describe(delta)
    assert info.exact
    assert patch(old, delta) == new
    (member,) = [m for m in info.members if m.name == "sheet.xml"]
    assert member.codec == "chunked"
    # A deletion longer than the lookahead costs literals until the stream finds its
    # place again (two or three chunks here, where chunks are 16 KiB).
    assert len(delta) < len(new) // (2 if edit == "delete past the lookahead" else 4)
    if edit == "renumbered from the top":
        # Every fingerprint of every piece's end is rewritten; the pieces still
        # follow each other through the base (by where the last copy ended).
        assert len(delta) < 2000


def test_block_parallel_member_streams_exactly():
    content = sheet(6000, seed=3)
    new_content = content.replace(b'r="A2500"', b'r="A2500x"')
    old = archive(content, raw=_deflate.deflate(content, _deflate.LIBREOFFICE))
    new = archive(new_content, raw=_deflate.deflate(new_content, _deflate.LIBREOFFICE))
    delta = diff(old, new)
    assert describe(delta).exact
    assert patch(old, delta) == new
    assert any(m.codec == "chunked" for m in describe(delta).members)


def test_an_uncommon_recipe_falls_back_to_the_whole_member():
    """Streaming tries the common recipes only; others take the ordinary path, still exact."""
    new_content = EDITS["cell"]
    old = archive(BASE)
    new = archive(new_content, raw=zs.raw_deflate(new_content, level=1))
    delta = diff(old, new)
    info = describe(delta)
    assert info.exact
    assert patch(old, delta) == new
    assert all(m.codec != "chunked" for m in info.members)


def test_chunk_that_reaches_past_its_base_is_refused():
    old, new = archive(BASE), archive(EDITS["cell"])
    payload = zs.payload_of(diff(old, new))
    # A ZIP payload ends with the chunk section; put a chunk far past the base there.
    original = _blob(_engine._chunk_section(_read_chunks(payload)))
    assert payload.endswith(original)
    forged = payload[:-len(original)] + _blob(_engine._chunk_section([[(0, 10**9, 16, b"")]]))
    with pytest.raises(DeltaError, match="past the end"):
        patch(old, seal(old, forged, new))


def _blob(data: bytes) -> bytes:
    from edgesync.delta._wire import Writer

    w = Writer()
    w.blob(data)
    return w.getvalue()


def _read_chunks(payload: bytes):
    from edgesync.delta._wire import Reader

    r = Reader(payload)
    assert r.varint() == _engine.KIND_ZIP
    return _engine._read_zip_payload(r, Limits())[4]


def seal(base: bytes, payload: bytes, result: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return (b"ESD\x01\x01" + hashlib.sha256(base).digest() + hashlib.sha256(result).digest()
            + c.compress(payload) + c.flush())


@functools.cache
def streamed_case() -> tuple[bytes, bytes]:
    old = archive(BASE)
    return old, diff(old, archive(EDITS["insert near the start"]))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_damaged_streamed_deltas_raise_only_delta_errors(data):
    old, delta = streamed_case()
    assert any(m.codec == "chunked" for m in describe(delta).members)
    damaged = bytearray(zs.payload_of(delta))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(damaged) - 1))
        damaged[pos] = data.draw(st.integers(0, 255))
    try:
        out = patch(old, seal(old, bytes(damaged), b"whatever"))
    except DeltaError:
        return
    raise AssertionError(f"a damaged delta produced {len(out)} bytes")
