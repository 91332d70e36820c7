"""The ZIP container layer: the exact model, the frame, and the canonical rebuild."""

from __future__ import annotations

import hashlib
import struct
import zlib

import pytest
from hypothesis import given, settings

from edgesync.delta import _zip, describe, diff, patch
from edgesync.errors import CorruptDeltaError
from tests.delta import strategies as zs


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


truths_of = _zip.directory_truths


def rebuild(data: bytes) -> bytes:
    """Parse, write the frame, read it back and build: must be the identity."""
    archive = _zip.parse(data)
    truths = truths_of(archive)
    frame = _zip.write_frame(archive, truths)
    model = _zip.read_frame(frame, max_members=len(archive.entries))
    datas = [data[e.data_start:e.data_end] for e in archive.entries]
    return _zip.build(model, datas, truths)


# --- the model ---------------------------------------------------------------------------


@settings(max_examples=200)
@given(zs.archives(max_members=8))
def test_every_zipfile_archive_is_modelled_exactly(spec):
    data = spec.to_bytes()
    archive = _zip.parse(data)
    assert [e.name.decode() for e in archive.entries] == [m.name for m in spec.members]
    assert archive.comment == spec.comment
    for entry, member in zip(archive.entries, spec.members):
        assert bool(entry.dd) == (spec.streamed and not member.is_dir)
    assert rebuild(data) == data


def test_streamed_archive_has_descriptors_and_zero_local_sizes():
    data = zs.Archive((zs.Member("a.xml", b"<a/>" * 100), zs.Member("b.bin", b"\x01\x02",
                                                                     method=0)),
                      streamed=True).to_bytes()
    archive = _zip.parse(data)
    for entry in archive.entries:
        assert entry.l_flags & 0x08
        assert entry.dd.startswith(b"PK\x07\x08") and len(entry.dd) == 16
        assert (entry.l_crc, entry.l_csize, entry.l_usize) == (0, 0, 0)
    assert rebuild(data) == data


@pytest.mark.parametrize("descriptor", [b"with-signature", b"without-signature"])
def test_hand_written_descriptors_are_modelled(descriptor):
    content = b"<x>descriptor</x>" * 30
    entry = zs.deflated("a.xml", content, descriptor=True)
    data = zs.write_zip([entry, zs.stored("b.txt", b"next")])
    if descriptor == b"without-signature":
        sig = data.index(b"PK\x07\x08")
        data = data[:sig] + data[sig + 4:]
        # The directory now sits 4 bytes earlier.
        data = bytearray(data)
        eocd = data.rindex(b"PK\x05\x06")
        cd_offset = struct.unpack_from("<I", data, eocd + 16)[0] - 4
        struct.pack_into("<I", data, eocd + 16, cd_offset)
        cd = data.index(b"PK\x01\x02")
        second = data.index(b"PK\x01\x02", cd + 4)
        offset = struct.unpack_from("<I", data, second + 42)[0] - 4
        struct.pack_into("<I", data, second + 42, offset)
        data = bytes(data)
    archive = _zip.parse(data)
    assert len(archive.entries[0].dd) == (16 if descriptor == b"with-signature" else 12)
    assert rebuild(data) == data
    other = data.replace(b"next", b"NEXT")
    delta = diff(data, other)
    assert describe(delta).container == "zip"
    assert patch(data, delta) == other


def test_the_frame_does_not_change_when_only_member_data_does():
    def archive(body: bytes) -> bytes:
        return zs.Archive((zs.Member("mimetype", b"application/x", method=0),
                           zs.Member("content.xml", body),
                           zs.Member("styles.xml", b"<styles/>" * 40)), streamed=True).to_bytes()

    frames = []
    for body in (b"<p>first version</p>" * 50, b"<p>second, longer version</p>" * 70):
        data = archive(body)
        parsed = _zip.parse(data)
        frames.append(_zip.write_frame(parsed, truths_of(parsed)))
    assert frames[0] == frames[1]


def _with_eocd_fields(data: bytes, **fields: int) -> bytes:
    names = ("sig", "disk", "cd_disk", "n_disk", "n_total", "cd_size", "cd_offset", "clen")
    eocd = data.rindex(b"PK\x05\x06")
    values = dict(zip(names, struct.unpack_from("<4sHHHHIIH", data, eocd)))
    values.update(fields)
    return data[:eocd] + struct.pack("<4sHHHHIIH", *values.values()) + data[eocd + 22:]


GOOD = zs.write_zip([zs.stored("a.txt", b"alpha"), zs.deflated("b.xml", b"<b/>" * 40)])

NOT_MODELLED = {
    "absolute name": zs.write_zip([zs.stored("/etc/passwd", b"root")]),
    "drive letter": zs.write_zip([zs.stored("C:/boot.ini", b"x")]),
    "backslash absolute": zs.write_zip([zs.stored("\\evil", b"x")]),
    "dot-dot": zs.write_zip([zs.stored("../escape.txt", b"x")]),
    "inner dot-dot": zs.write_zip([zs.stored("a/../../escape.txt", b"x")]),
    "backslash dot-dot": zs.write_zip([zs.stored("a\\..\\..\\x", b"x")]),
    "empty name": zs.write_zip([zs.stored("", b"x")]),
    "nul in name": zs.write_zip([zs.stored("a\x00b", b"x")]),
    "duplicate names": zs.write_zip([zs.stored("a.txt", b"1"), zs.stored("a.txt", b"2")]),
    "encrypted": zs.write_zip([zs.stored("a.txt", b"\x13" * 12 + b"x", flags=0x01)]),
    "strong encryption": zs.write_zip([zs.stored("a.txt", b"x", flags=0x41)]),
    "encrypted local header only": zs.write_zip([zs.stored("a.txt", b"\x13" * 12 + b"x",
                                                           local_flags=0x01)]),
    "self-extractor prefix": b"MZ\x90\x00" + GOOD,
    "bytes after the comment": GOOD + b"\x00",
    "zip64 counts": _with_eocd_fields(GOOD, n_disk=0xFFFF, n_total=0xFFFF),
    "multi-disk": _with_eocd_fields(GOOD, disk=1),
    "wrong directory offset": _with_eocd_fields(GOOD, cd_offset=3),
    "more records counted": _with_eocd_fields(GOOD, n_disk=3, n_total=3),
    "truncated": GOOD[:-30],
    "not a zip": b"hello world, this is not a zip at all",
    "signature at the very end": b"PK\x03\x04" + b"\x00" * 30 + b"PK\x05\x06\x00\x00",
    "signature near the end": b"PK\x03\x04" + b"\x00" * 40 + b"PK\x05\x06" + b"\x00" * 17,
}


def _patched_local_name(data: bytes) -> bytes:
    i = data.index(b"a.txt")
    return data[:i] + b"b.txt" + data[i + 5:]


def _patched_local_method(data: bytes) -> bytes:
    return data[:8] + b"\x08\x00" + data[10:]


NOT_MODELLED["local and central names differ"] = _patched_local_name(GOOD)
NOT_MODELLED["local and central methods differ"] = _patched_local_method(GOOD)


@pytest.mark.parametrize("name", sorted(NOT_MODELLED))
def test_inputs_outside_the_model_are_refused_by_the_model(name):
    with pytest.raises(_zip.NotModelled):
        _zip.parse(NOT_MODELLED[name])


@pytest.mark.parametrize("name", sorted(NOT_MODELLED))
def test_inputs_outside_the_model_are_diffed_as_bytes(name):
    odd = NOT_MODELLED[name]
    changed = odd[:20] + b"~changed~" + odd[20:]
    for base, new in ((odd, changed), (changed, odd), (GOOD, odd), (odd, GOOD), (odd, odd)):
        delta = diff(base, new)
        info = describe(delta)
        assert info.container == "raw"
        assert info.exact
        assert patch(base, delta) == new


def test_a_comment_holding_a_trailer_signature_still_round_trips():
    tricky = zs.write_zip([zs.stored("a.txt", b"alpha")],
                          comment=b"PK\x05\x06" + b"\x00" * 18)
    new = tricky.replace(b"alpha", b"omega")
    delta = diff(tricky, new)
    assert patch(tricky, delta) == new
    assert describe(delta).exact


def test_read_frame_refuses_damage_with_corrupt_delta_error():
    parsed = _zip.parse(GOOD)
    frame = _zip.write_frame(parsed, truths_of(parsed))
    for cut in range(len(frame)):
        with pytest.raises(CorruptDeltaError):
            _zip.read_frame(frame[:cut], max_members=10)
    with pytest.raises(CorruptDeltaError):
        _zip.read_frame(frame + b"\x00", max_members=10)
    with pytest.raises(CorruptDeltaError):
        _zip.read_frame(frame, max_members=1)


# --- the canonical rebuild -------------------------------------------------------------

CONTENT = b"".join(b'<text:p text:style-name="P%d">Paragraph %d of the minutes.</text:p>\n'
                   % (i % 7, i) for i in range(300))
EDITED = CONTENT.replace(b"Paragraph 150 ", b"Paragraph one hundred and fifty ")
STYLES = b"<office:styles>" + b'<style:style style:name="P1"/>' * 60 + b"</office:styles>"
MIME = b"application/vnd.oasis.opendocument.text"


def _odf_like(content_entry: zs.RawEntry, *extra: zs.RawEntry) -> bytes:
    return zs.write_zip([zs.stored("mimetype", MIME), content_entry,
                         zs.deflated("styles.xml", STYLES), *extra], comment=b"odf-ish")


def check_canonical(base: bytes, new: bytes, canonical: str = "content.xml") -> bytes:
    """A delta whose result is the canonical rebuild: everything the issue promises of it.

    ``canonical`` names the member whose deflate stream no recipe reproduces.
    """
    delta = diff(base, new)
    info = describe(delta)
    assert info.exact is False
    assert info.container == "zip"
    assert info.base_sha256 == sha(base)
    assert info.result_sha256 != sha(new)
    out = patch(base, delta)
    assert sha(out) == info.result_sha256
    assert zs.zip_contents(out) == zs.zip_contents(new)
    assert patch(base, delta) == out                 # applying twice: the same bytes
    assert diff(base, new) == delta                  # and the encoder is deterministic
    assert list(zs.zip_contents(out)) == list(zs.zip_contents(new))
    rebuilt, original = zs.raw_members(out), zs.raw_members(new)
    for name, (method, raw) in original.items():
        if name == canonical:
            # Rebuilt with CANONICAL: zlib level 6, memLevel 8, 15-bit window, one stream.
            assert rebuilt[name] == (8, zs.raw_deflate(zs.zip_contents(new)[name], 6))
        else:
            assert rebuilt[name] == (method, raw)
    assert _zip.parse(out)  # and it is a ZIP the engine models again
    return out


def test_canonical_rebuild_of_a_patched_member():
    base = _odf_like(zs.deflated("content.xml", CONTENT))
    new = _odf_like(zs.deflated("content.xml", EDITED, raw=zs.unreproducible_deflate(EDITED)))
    out = check_canonical(base, new)
    assert out[30:38] == b"mimetype" and out[38:38 + len(MIME)] == MIME


def test_canonical_rebuild_of_an_added_member():
    base = _odf_like(zs.deflated("content.xml", CONTENT))
    new = _odf_like(zs.deflated("content.xml", CONTENT),
                    zs.deflated("extra.xml", EDITED, raw=zs.unreproducible_deflate(EDITED)))
    check_canonical(base, new, canonical="extra.xml")


def test_canonical_rebuild_with_a_data_descriptor():
    base = _odf_like(zs.deflated("content.xml", CONTENT, descriptor=True))
    new = _odf_like(zs.deflated("content.xml", EDITED, raw=zs.unreproducible_deflate(EDITED),
                                descriptor=True))
    out = check_canonical(base, new)
    entry = next(e for e in _zip.parse(out).entries if e.name == b"content.xml")
    canonical = zs.raw_deflate(EDITED, 6)
    assert entry.dd == b"PK\x07\x08" + struct.pack("<III", zlib.crc32(EDITED), len(canonical),
                                                   len(EDITED))


def test_canonical_rebuild_when_only_the_compression_changed():
    base = _odf_like(zs.deflated("content.xml", CONTENT))
    new = _odf_like(zs.deflated("content.xml", CONTENT, raw=zs.unreproducible_deflate(CONTENT)))
    out = check_canonical(base, new)
    assert [m.codec for m in describe(diff(base, new)).members] == ["same"]
    assert out == base  # the canonical deflate of the content is what the base holds


def test_an_unreproducible_base_member_kept_as_it_is_stays_exact():
    odd = zs.deflated("content.xml", CONTENT, raw=zs.unreproducible_deflate(CONTENT))
    base = _odf_like(odd)
    new = _odf_like(odd, zs.deflated("new.xml", b"<new/>" * 20))
    delta = diff(base, new)
    assert describe(delta).exact
    assert patch(base, delta) == new


def test_an_unreproducible_base_member_edited_normally_stays_exact():
    base = _odf_like(zs.deflated("content.xml", CONTENT, raw=zs.unreproducible_deflate(CONTENT)))
    new = _odf_like(zs.deflated("content.xml", EDITED))
    delta = diff(base, new)
    assert describe(delta).exact
    assert patch(base, delta) == new


def test_canonical_rebuild_is_a_fixed_point():
    # Diffing the canonical result against the new file's content again is exact.
    base = _odf_like(zs.deflated("content.xml", CONTENT))
    new = _odf_like(zs.deflated("content.xml", EDITED, raw=zs.unreproducible_deflate(EDITED)))
    out = patch(base, diff(base, new))
    delta = diff(base, out)
    assert describe(delta).exact
    assert patch(base, delta) == out
