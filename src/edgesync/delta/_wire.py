"""Bounded reading and writing of the small integers and strings of the delta format.

Everything the decoder reads from a delta goes through :class:`Reader`, which
checks every length against what is left *before* slicing or allocating, and
turns every malformation into :class:`~edgesync.errors.CorruptDeltaError`.
"""

from __future__ import annotations

import zlib

from edgesync.errors import CorruptDeltaError, LimitExceededError

__all__ = ["Reader", "Writer", "inflate"]

_MAX_VARINT_BYTES = 10  # 64-bit values at most


class Writer:
    """Appends varints, fixed-width integers and length-prefixed bytes."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def varint(self, value: int) -> None:
        """Unsigned LEB128."""
        if value < 0:
            raise ValueError("varint of a negative number")
        while value >= 0x80:
            self.buf.append((value & 0x7F) | 0x80)
            value >>= 7
        self.buf.append(value)

    def u8(self, value: int) -> None:
        self.buf.append(value)

    def uint(self, value: int, width: int) -> None:
        """Little-endian unsigned integer of ``width`` bytes."""
        self.buf += value.to_bytes(width, "little")

    def raw(self, data: bytes) -> None:
        self.buf += data

    def blob(self, data: bytes) -> None:
        """Varint length, then the bytes."""
        self.varint(len(data))
        self.buf += data

    def getvalue(self) -> bytes:
        return bytes(self.buf)


class Reader:
    """Reads what :class:`Writer` wrote, refusing anything out of bounds.

    :param data: the bytes to read.
    :param what: names the structure in error messages ("the ZIP frame").
    """

    __slots__ = ("data", "pos", "what")

    def __init__(self, data: bytes, what: str = "the delta") -> None:
        self.data = data
        self.pos = 0
        self.what = what

    def fail(self, detail: str) -> CorruptDeltaError:
        return CorruptDeltaError(f"{self.what} is corrupt: {detail} (at byte {self.pos})")

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def varint(self, limit: int | None = None) -> int:
        """An unsigned LEB128 value, at most ``limit`` when given."""
        data, pos = self.data, self.pos
        value = shift = 0
        for i in range(_MAX_VARINT_BYTES):
            if pos + i >= len(data):
                raise self.fail("it ends inside a number")
            byte = data[pos + i]
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                self.pos = pos + i + 1
                if limit is not None and value > limit:
                    raise self.fail(f"a count or length of {value} exceeds {limit}")
                return value
            shift += 7
        raise self.fail("a number is too long")

    def u8(self) -> int:
        if self.pos >= len(self.data):
            raise self.fail("it ends early")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def uint(self, width: int) -> int:
        return int.from_bytes(self.take(width), "little")

    def take(self, n: int) -> bytes:
        if n < 0 or n > len(self.data) - self.pos:
            raise self.fail(f"it ends early: {n} bytes announced, {self.remaining} left")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def blob(self, limit: int | None = None) -> bytes:
        return self.take(self.varint(limit))

    def expect_end(self) -> None:
        if self.pos != len(self.data):
            raise self.fail(f"{self.remaining} unexpected bytes at the end")


def inflate(raw: bytes, limit: int, what: str, limit_name: str = "max_content_size") -> bytes:
    """Raw deflate data inflated, refusing damage and anything past ``limit`` bytes.

    Never returns a result cut short at the limit: past it is an error.

    :raises CorruptDeltaError: the deflate data is damaged.
    :raises LimitExceededError: it inflates past ``limit`` (``limit_name`` names the field).
    """
    d = zlib.decompressobj(-15)
    try:
        out = d.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise CorruptDeltaError(f"{what}: its deflate data is damaged ({exc})") from exc
    if len(out) > limit:
        raise LimitExceededError(f"{what} inflates past the content limit; see Limits.{limit_name}",
                                 limit=limit_name)
    return out
