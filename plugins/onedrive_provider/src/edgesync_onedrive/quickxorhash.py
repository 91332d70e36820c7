"""OneDrive's QuickXorHash, hashlib-style, in pure Python (the edge may run in a unikernel).

The algorithm (OneDrive API docs, "QuickXorHash"): a 160-bit state; byte *i*
of the content is XORed in at bit offset ``(11 * i) mod 160``, wrapping
around; the state is serialised little-endian into 20 bytes and the content
length, as a 64-bit little-endian integer, is XORed into the last 8 of them.
OneDrive reports the result in base64; :meth:`QuickXorHasher.hexdigest` gives
the same 20 bytes in hex, the form edgesync's ``RemoteEntry.hashes`` use.

Speed: every byte whose index has the same remainder modulo 160 lands at the
same bit offset, so the content is first XOR-folded 160 bytes at a time (one
big-integer XOR per block) and only the 160 folded bytes are placed.
"""

from __future__ import annotations

import base64

__all__ = ["QuickXorHasher", "hex_from_base64"]

_WIDTH = 160
_BLOCK = 160  # bytes folded at a time: index i and i + 160 share a bit offset
_MASK = (1 << _WIDTH) - 1


def hex_from_base64(value: str) -> str:
    """OneDrive's base64 ``quickXorHash`` as lower-case hex (edgesync's form)."""
    return base64.b64decode(value).hex()


class QuickXorHasher:
    """Incremental QuickXorHash: ``update(data)``, then ``digest()`` or ``hexdigest()``.

    >>> hasher = QuickXorHasher()
    >>> hasher.update(b"hello world")
    >>> hasher.base64digest()
    'aCgDG9jwBhDc4Q1yawMZAAAAAAA='
    """

    name = "quickxor"

    def __init__(self, data: bytes = b"") -> None:
        self._folded = 0  # XOR of all complete, aligned 160-byte blocks (big-endian int)
        self._tail = b""  # bytes after the last complete block
        self._length = 0
        if data:
            self.update(data)

    def update(self, data: bytes) -> None:
        """Feed more content."""
        data = self._tail + bytes(data)
        self._length += len(data) - len(self._tail)
        whole = len(data) - len(data) % _BLOCK
        folded = self._folded
        view = memoryview(data)
        for start in range(0, whole, _BLOCK):
            folded ^= int.from_bytes(view[start:start + _BLOCK], "big")
        self._folded = folded
        self._tail = bytes(view[whole:])

    def digest(self) -> bytes:
        """The 20-byte hash of everything fed so far."""
        block = self._folded.to_bytes(_BLOCK, "big")
        tail = self._tail
        state = 0
        for r in range(_BLOCK):
            value = block[r] ^ (tail[r] if r < len(tail) else 0)
            if value:
                shift = (11 * r) % _WIDTH
                state ^= ((value << shift) | (value >> (_WIDTH - shift))) & _MASK
        out = bytearray(state.to_bytes(_WIDTH // 8, "little"))
        for i, byte in enumerate(self._length.to_bytes(8, "little")):
            out[_WIDTH // 8 - 8 + i] ^= byte
        return bytes(out)

    def hexdigest(self) -> str:
        """The hash as lower-case hex (40 digits)."""
        return self.digest().hex()

    def base64digest(self) -> str:
        """The hash in base64, as OneDrive reports it."""
        return base64.b64encode(self.digest()).decode("ascii")
