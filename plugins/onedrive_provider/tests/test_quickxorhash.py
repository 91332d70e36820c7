"""QuickXorHash: the published vectors, incremental feeding, and hex for edgesync."""

from __future__ import annotations

import base64
import random

import pytest
from edgesync_onedrive.quickxorhash import QuickXorHasher, hex_from_base64


def reference(data: bytes) -> bytes:
    """The algorithm as specified, one byte at a time (slow, obviously right)."""
    state = 0
    for i, byte in enumerate(data):
        shift = (11 * i) % 160
        state ^= ((byte << shift) | (byte >> (160 - shift))) & ((1 << 160) - 1)
    out = bytearray(state.to_bytes(20, "little"))
    for i, byte in enumerate(len(data).to_bytes(8, "little")):
        out[12 + i] ^= byte
    return bytes(out)


@pytest.mark.parametrize("data, expected", [
    (b"hello world", "aCgDG9jwBhDc4Q1yawMZAAAAAAA="),
    (b"", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
])
def test_published_vectors(data, expected):
    assert QuickXorHasher(data).base64digest() == expected
    assert QuickXorHasher(data).hexdigest() == hex_from_base64(expected)


@pytest.mark.parametrize("size", [1, 159, 160, 161, 319, 320, 5000, 100_003])
def test_matches_the_specification(size):
    data = random.Random(size).randbytes(size)
    assert QuickXorHasher(data).digest() == reference(data)


def test_incremental_feeding_in_any_pieces():
    data = random.Random(7).randbytes(20_000)
    hasher = QuickXorHasher()
    rng = random.Random(3)
    position = 0
    while position < len(data):
        step = rng.randint(0, 400)
        hasher.update(data[position:position + step])
        position += step
    assert hasher.digest() == QuickXorHasher(data).digest() == reference(data)
    assert base64.b64decode(hasher.base64digest()) == hasher.digest()
