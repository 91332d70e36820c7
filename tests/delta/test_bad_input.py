"""Bad input: every refusal is one clear DeltaError subclass, and nothing is returned."""

from __future__ import annotations

import hashlib
import io
import zipfile
import zlib

import pytest

from edgesync.delta import FORMAT_VERSION, Limits, describe, diff, patch
from edgesync.errors import (
    BaseMismatchError,
    CorruptDeltaError,
    DeltaError,
    LimitExceededError,
    UnsupportedFormatError,
)
from tests.delta import strategies as zs

HEADER = 69


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def seal(base: bytes, payload: bytes, result: bytes = b"", *, flags: int = 1,
         version: int = FORMAT_VERSION, level: int = 9) -> bytes:
    """A delta written by hand: header, then ``payload`` deflated."""
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return (b"ESD" + bytes([version, flags]) + hashlib.sha256(base).digest()
            + hashlib.sha256(result).digest() + c.compress(payload) + c.flush())


def literal(base: bytes, new: bytes) -> bytes:
    """The LITERAL delta of ``new`` (kind 0 RAW, codec 3)."""
    return seal(base, b"\x00\x03" + new, new)


def refuses(cls: type[DeltaError], base: bytes, delta: bytes, **kw) -> DeltaError:
    """``patch`` raises exactly a ``cls`` (returning nothing) and nothing else."""
    with pytest.raises(DeltaError) as info:
        patch(base, delta, **kw)
    assert isinstance(info.value, cls), f"{type(info.value).__name__}: {info.value}"
    assert str(info.value)
    return info.value


TEXT = b"".join(b"%d. the edge keeps each version of the document\n" % i for i in range(60))
TEXT_NEW = TEXT.replace(b"30. the edge", b"30. THE EDGE, edited,")


@pytest.fixture(scope="module")
def raw_case() -> tuple[bytes, bytes, bytes]:
    delta = diff(TEXT, TEXT_NEW)
    assert describe(delta).container == "raw"
    return TEXT, TEXT_NEW, delta


@pytest.fixture(scope="module")
def zip_case() -> tuple[bytes, bytes, bytes]:
    base = zs.Archive((zs.Member("mimetype", b"application/x-test", method=0),
                       zs.Member("doc.xml", TEXT), zs.Member("gone.txt", b"bye"),
                       zs.Member("same.bin", bytes(range(64)), method=0))).to_bytes()
    new = zs.Archive((zs.Member("mimetype", b"application/x-test", method=0),
                      zs.Member("doc.xml", TEXT_NEW), zs.Member("same.bin", bytes(range(64)),
                                                                method=0),
                      zs.Member("added.xml", b"<added/>" * 9))).to_bytes()
    delta = diff(base, new)
    assert describe(delta).container == "zip"
    return base, new, delta


@pytest.fixture(params=["raw", "zip"])
def case(request, raw_case, zip_case):
    return raw_case if request.param == "raw" else zip_case


# --- damaged deltas -----------------------------------------------------------------------


def test_every_truncation_is_refused(case):
    base, _, delta = case
    for n in range(len(delta)):
        err = refuses(DeltaError, base, delta[:n])
        assert isinstance(err, UnsupportedFormatError if n < 4 else CorruptDeltaError), n
        with pytest.raises(DeltaError):
            describe(delta[:n])


def test_every_bit_flip_is_refused_or_harmless(case):
    """A flipped bit never yields a wrong file: a DeltaError, or exactly the new file."""
    base, new, delta = case
    for pos in range(len(delta)):
        for bit in range(8):
            damaged = bytearray(delta)
            damaged[pos] ^= 1 << bit
            damaged = bytes(damaged)
            try:
                out = patch(base, damaged)
            except DeltaError as exc:
                expected = (UnsupportedFormatError if pos <= 3 else CorruptDeltaError
                            if pos == 4 or pos >= 37 else BaseMismatchError)
                assert isinstance(exc, expected), (pos, bit, exc)
            else:
                assert out == new
                # Only the informational parts may change harmlessly: the exact flag,
                # and a member's name (which describe() reports, the patch ignores).
                assert pos == 4 and bit == 0 or pos >= HEADER
            try:
                describe(damaged)
            except DeltaError:
                pass


def test_the_exact_flag_is_informational(raw_case):
    base, new, delta = raw_case
    cleared = delta[:4] + bytes([delta[4] & ~0x01]) + delta[5:]
    assert patch(base, cleared) == new
    assert describe(cleared).exact is False


@pytest.mark.parametrize("version", [0, 2, 3, 0x7F, 0xFF])
def test_unknown_version(case, version):
    base, _, delta = case
    odd = delta[:3] + bytes([version]) + delta[4:]
    for call in (lambda: patch(base, odd), lambda: describe(odd)):
        with pytest.raises(UnsupportedFormatError) as info:
            call()
        message = str(info.value)
        assert f"version {version}" in message
        assert f"version {FORMAT_VERSION}" in message


@pytest.mark.parametrize("delta", [
    b"", b"E", b"ES", b"ESD", b"XSD\x01", b"esd\x01" + b"\x00" * 80, b"\x00" * 100,
    b"\x1f\x8b\x08\x00" + b"\x00" * 40, zlib.compress(b"not a delta"), b"PK\x07\x08" * 10,
])
def test_missing_magic(delta):
    refuses(UnsupportedFormatError, b"base", delta)
    with pytest.raises(UnsupportedFormatError):
        describe(delta)


def test_missing_magic_on_a_real_delta(case):
    base, _, delta = case
    refuses(UnsupportedFormatError, base, b"ESX" + delta[3:])


@pytest.mark.parametrize("bit", range(2, 8))
def test_unknown_flags(case, bit):
    base, _, delta = case
    odd = delta[:4] + bytes([delta[4] | 1 << bit]) + delta[5:]
    err = refuses(CorruptDeltaError, base, odd)
    assert "flag" in str(err)
    with pytest.raises(CorruptDeltaError):
        describe(odd)


@pytest.mark.parametrize("tail", [b"\x00", b"garbage", b"ESD\x01", bytes(1000)])
def test_trailing_garbage(case, tail):
    base, _, delta = case
    refuses(CorruptDeltaError, base, delta + tail)
    with pytest.raises(CorruptDeltaError):
        describe(delta + tail)


def test_payload_that_is_not_deflate(case):
    base, _, delta = case
    refuses(CorruptDeltaError, base, delta[:HEADER] + b"\xff" * 40)


def test_wrong_result_hash(case):
    base, _, delta = case
    odd = delta[:37] + bytes(32) + delta[HEADER:]
    err = refuses(CorruptDeltaError, base, odd)
    assert "hash" in str(err)


@pytest.mark.parametrize("payload, what", [
    (b"", "empty payload"),
    (b"\x07", "unknown container kind"),
    (b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", "overlong varint"),
    (b"\x00\x09\x00\x00", "unknown raw codec"),
    (b"\x00\x01", "empty copy/insert section"),
    (b"\x00\x00\x00\x00extra", "bytes after the sections"),
    (b"\x00\x02@@ -", "truncated dmp patch"),
    (b"\x00\x01\x05abcde\x00", "bad copy/insert section"),
    (b"\x01\x00\x00\x00\x00\x00\x00", "zip payload for a non-zip base"),
])
def test_hand_made_payloads(payload, what):
    base = b"a plain base"
    refuses(CorruptDeltaError, base, seal(base, payload, b"whatever"))


def test_dmp_patch_that_does_not_apply():
    base = b"the quick brown fox jumps over the lazy dog " * 3
    patch_text = b"@@ -1,20 +1,20 @@\n-QQQQQQQQQQQQQQQQQQQQ\n+RRRRRRRRRRRRRRRRRRRR\n"
    payload = b"\x00\x02" + patch_text
    refuses(CorruptDeltaError, base, seal(base, payload, b"whatever"))


def test_a_zip_delta_for_a_zip_base_with_another_member_count(zip_case):
    base, _, delta = zip_case
    other = zs.Archive((zs.Member("only.txt", b"one member"),)).to_bytes()
    # Same hash prefix is impossible to forge; re-seal the payload for this base instead.
    payload = zs.payload_of(delta)
    refuses(CorruptDeltaError, other, seal(other, payload, b"x"))


# --- the wrong base --------------------------------------------------------------------


def test_wrong_base(case):
    base, _, delta = case
    other = base + b" (edited elsewhere)"
    err = refuses(BaseMismatchError, other, delta)
    assert err.expected == sha(base)
    assert err.actual == sha(other)
    assert err.to_dict()["expected"] == sha(base)
    assert err.to_dict()["actual"] == sha(other)
    assert describe(delta).base_sha256 == err.expected


def test_wrong_base_is_reported_before_anything_else(case):
    """The base hash is compared before the payload is read (delta-format.md, section 1)."""
    base, _, delta = case
    other = b"another base"
    refuses(BaseMismatchError, other, delta[:HEADER] + b"\xff" * 10)   # damaged payload
    refuses(BaseMismatchError, other, delta[:HEADER + 3])               # truncated payload
    refuses(BaseMismatchError, other, delta + b"trailing")
    bomb = literal(base, b"\x00" * (4 << 20))
    refuses(BaseMismatchError, other, bomb, limits=Limits(max_expansion=1))


# --- limits -----------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["max_result_size", "max_content_size", "max_members",
                                   "max_expansion", "expansion_allowance"])
@pytest.mark.parametrize("value", [0, -1, 1.5, "10", None, True])
def test_limits_validation(field, value):
    with pytest.raises(ValueError, match=field):
        Limits(**{field: value})


def test_limits_are_keyword_only_and_frozen():
    with pytest.raises(TypeError):
        Limits(10)  # type: ignore[misc]
    limits = Limits(max_members=3)
    with pytest.raises(AttributeError):
        limits.max_members = 4  # type: ignore[misc]
    assert Limits() == Limits(max_result_size=1 << 30, max_content_size=2 << 30,
                              max_members=65_535, max_expansion=250,
                              expansion_allowance=64 << 20)


def limit_of(base: bytes, delta: bytes, **fields: int) -> str:
    return refuses(LimitExceededError, base, delta, limits=Limits(**fields)).limit


ZEROS = b"\x00" * (600 << 10)   # deflates about 600:1


def test_max_result_size():
    base = b"x"
    for new in (TEXT * 20, ZEROS):
        delta = diff(base, new)
        assert patch(base, delta, limits=Limits(max_result_size=len(new))) == new
        assert limit_of(base, delta, max_result_size=len(new) - 1) == "max_result_size"


def test_max_result_size_of_a_zip():
    base = zs.Archive((zs.Member("a.xml", TEXT),)).to_bytes()
    new = zs.Archive((zs.Member("a.xml", TEXT_NEW), zs.Member("b.xml", ZEROS))).to_bytes()
    delta = diff(base, new)
    assert patch(base, delta, limits=Limits(max_result_size=len(new))) == new
    assert limit_of(base, delta, max_result_size=len(new) - 1) == "max_result_size"


def test_max_content_size_of_a_compressible_file():
    base = b"x"
    delta = diff(base, ZEROS)
    assert len(delta) < len(ZEROS) // 100
    assert patch(base, delta) == ZEROS
    assert limit_of(base, delta, max_content_size=len(ZEROS) // 2) == "max_content_size"


NOISE = hashlib.shake_256(b"noise").digest(16_000)  # incompressible: no literal fallback


def test_max_content_size_of_a_zip_bomb_like_member():
    shared = zs.Member("noise.bin", NOISE, method=0)
    base = zs.Archive((shared, zs.Member("a.xml", TEXT))).to_bytes()
    new = zs.Archive((shared, zs.Member("a.xml", TEXT),
                      zs.Member("bomb.bin", ZEROS, level=9))).to_bytes()
    delta = diff(base, new)
    assert describe(delta).container == "zip"
    assert patch(base, delta) == new
    assert limit_of(base, delta, max_content_size=len(ZEROS) // 2) == "max_content_size"
    # The base's members count too: patching a huge base member needs its content.
    new2 = zs.Archive((shared, zs.Member("a.xml", TEXT),
                       zs.Member("bomb.bin", ZEROS[:-1] + b"\x01", level=9))).to_bytes()
    delta2 = diff(new, new2)
    assert describe(delta2).container == "zip"
    assert patch(new, delta2) == new2
    assert limit_of(new, delta2, max_content_size=len(ZEROS) // 2) == "max_content_size"


def test_max_expansion_of_the_payload():
    base = b"x"
    new = b"".join(b"%08d the edge keeps each version\n" % (i * 7919 % 100_003)
                   for i in range(50_000))  # about 1.6 MB that deflates about 4:1
    delta = diff(base, new)
    assert patch(base, delta) == new
    # The payload may inflate to max_expansion x the delta + expansion_allowance.
    assert limit_of(base, delta, max_expansion=1, expansion_allowance=1 << 20) == "max_expansion"
    with pytest.raises(LimitExceededError) as info:
        describe(delta, limits=Limits(max_expansion=1, expansion_allowance=1 << 20))
    assert info.value.limit == "max_expansion"
    # ...and to at most max_content_size: the error names whichever bound it.
    assert limit_of(base, delta, max_content_size=1000) == "max_content_size"
    with pytest.raises(LimitExceededError) as info:
        describe(delta, limits=Limits(max_content_size=1000))
    assert info.value.limit == "max_content_size"


def test_max_expansion_of_the_content():
    # The content produced may be max_expansion x (base + delta) + expansion_allowance.
    big = b"\x00" * (17 << 20)
    base = zs.write_zip([zs.deflated("big.bin", big), zs.stored("a.txt", b"x")])
    new = zs.write_zip([zs.deflated("big.bin", big[:-1] + b"\x01"), zs.stored("a.txt", b"x")])
    delta = diff(base, new)
    assert len(delta) < 1000
    assert limit_of(base, delta, max_expansion=1, expansion_allowance=1 << 20) == "max_expansion"
    assert limit_of(base, delta, max_content_size=1 << 20) == "max_content_size"
    assert patch(base, delta, limits=Limits(max_expansion=5000)) == new


def test_max_members():
    base = zs.Archive(tuple(zs.Member(f"part{i}.xml", b"<p>%d</p>" % i) for i in range(12))
                      ).to_bytes()
    new = zs.Archive(tuple(zs.Member(f"part{i}.xml", b"<p>%d!</p>" % i if i == 5 else
                                     b"<p>%d</p>" % i) for i in range(12))).to_bytes()
    delta = diff(base, new)
    assert describe(delta).container == "zip"
    assert patch(base, delta, limits=Limits(max_members=12)) == new
    assert limit_of(base, delta, max_members=11) == "max_members"
    with pytest.raises(LimitExceededError) as info:
        describe(delta, limits=Limits(max_members=11))
    assert info.value.limit == "max_members"


def test_limits_never_hide_a_result_that_fits(case):
    base, new, delta = case
    tight = Limits(max_result_size=len(new),
                   max_content_size=2 * (len(base) + len(new) + len(TEXT) + len(TEXT_NEW)),
                   max_members=10, max_expansion=1)
    assert patch(base, delta, limits=tight) == new


# --- archives outside the model: diffed as bytes ------------------------------------------

ODD_ARCHIVES = {
    "absolute name": lambda body: zs.write_zip([zs.stored("/abs/path.txt", body)]),
    "dot-dot name": lambda body: zs.write_zip([zs.stored("../../etc/cron.d/x", body)]),
    "duplicate names": lambda body: zs.write_zip([zs.stored("a.txt", body),
                                                  zs.stored("a.txt", body[::-1])]),
    "encrypted member": lambda body: zs.write_zip([zs.stored("a.txt", b"\x5a" * 12 + body,
                                                             flags=0x01)]),
    "encrypted deflated member": lambda body: zs.write_zip([zs.deflated("a.xml", body,
                                                                        flags=0x01)]),
}


@pytest.mark.parametrize("name", sorted(ODD_ARCHIVES))
def test_archives_outside_the_model_round_trip_as_bytes(name):
    make = ODD_ARCHIVES[name]
    base, new = make(TEXT), make(TEXT_NEW)
    for b, n in ((base, new), (new, base), (base, base)):
        delta = diff(b, n)
        info = describe(delta)
        assert info.container == "raw"
        assert info.exact
        assert info.result_sha256 == sha(n)
        assert patch(b, delta) == n


def test_a_zip_delta_refuses_a_base_outside_the_model():
    good = zs.Archive((zs.Member("a.txt", TEXT),)).to_bytes()
    new = zs.Archive((zs.Member("a.txt", TEXT_NEW),)).to_bytes()
    payload = zs.payload_of(diff(good, new))
    odd = ODD_ARCHIVES["duplicate names"](TEXT)
    refuses(CorruptDeltaError, odd, seal(odd, payload, new))


# --- arguments of the wrong type ------------------------------------------------------------


@pytest.mark.parametrize("delta", ["ESD\x01 a str", 12345, None, ["E", "S", "D"]])
def test_a_delta_that_is_not_bytes(delta):
    refuses(UnsupportedFormatError, b"base", delta)
    with pytest.raises(UnsupportedFormatError):
        describe(delta)


def test_zip_inputs_read_by_zipfile_match_after_patch(zip_case):
    base, new, delta = zip_case
    out = patch(base, delta)
    with zipfile.ZipFile(io.BytesIO(out)) as zf:
        assert zf.testzip() is None
