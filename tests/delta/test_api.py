"""The public API of edgesync.delta: diff, patch and describe round-trip and report truthfully."""

from __future__ import annotations

import hashlib
import io
import zipfile
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgesync.delta import FORMAT_VERSION, DeltaInfo, Limits, MemberInfo, describe, diff, patch
from tests.delta import strategies as zs

HEADER = 69


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def literal_size(new: bytes) -> int:
    """Size of the LITERAL delta of ``new`` (header + deflated kind/codec/file)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    return HEADER + len(c.compress(b"\x00\x03" + new) + c.flush())


def check_common(base: bytes, new: bytes, delta: bytes) -> DeltaInfo:
    """What every exact delta must satisfy; returns its description."""
    assert isinstance(delta, bytes)
    assert delta[:4] == b"ESD" + bytes([FORMAT_VERSION])
    assert patch(base, delta) == new
    info = describe(delta)
    assert isinstance(info, DeltaInfo)
    assert info.version == FORMAT_VERSION == 1
    assert info.exact is True
    assert info.size == len(delta)
    assert info.base_sha256 == sha(base)
    assert info.result_sha256 == sha(new)
    assert all(isinstance(m, MemberInfo) for m in info.members)
    return info


def check_raw(base: bytes, new: bytes, delta: bytes) -> DeltaInfo:
    info = check_common(base, new, delta)
    assert info.container == "raw"
    assert info.kept == info.removed == 0
    (member,) = info.members
    assert member.name == "" and member.operation == "patch"
    assert member.codec in ("same", "copy-insert", "dmp", "literal")
    if member.codec == "same":
        assert base == new and member.encoded_size == 0
    if member.codec == "literal":
        assert member.encoded_size == len(new)
    return info


# --- byte strings and text ------------------------------------------------------------------


@settings(max_examples=300)
@given(zs.byte_pairs())
def test_bytes_round_trip(pair):
    base, new = pair
    check_raw(base, new, diff(base, new))


@settings(max_examples=200)
@given(zs.text_pairs())
def test_text_round_trip(pair):
    base, new = pair
    check_raw(base, new, diff(base, new))


@settings(max_examples=100)
@given(zs.byte_pairs())
def test_delta_never_exceeds_the_compressed_file(pair):
    base, new = pair
    assert len(diff(base, new)) <= literal_size(new)


@pytest.mark.parametrize("base, new", [
    (b"", b""),
    (b"", b"x"),
    (b"x", b""),
    (b"same", b"same"),
    (bytes(range(256)) * 64, bytes(range(256)) * 64),
    (b"", bytes(range(256)) * 64),
    (bytes(range(256)) * 64, b""),
    (b"\x00" * 100_000, b"\x00" * 100_001),
])
def test_edge_cases_round_trip(base, new):
    check_raw(base, new, diff(base, new))


def test_identical_large_files_make_a_tiny_delta():
    data = zs.write_zip([zs.stored("x", bytes(range(256)) * 400)])  # a ZIP and...
    blob = bytes(range(256)) * 400                                   # ...plain bytes
    for same in (data, blob):
        delta = diff(same, same)
        assert len(delta) < HEADER + 16
        assert patch(same, delta) == same


def test_a_small_edit_makes_a_small_delta():
    base = b"".join(b"line %d of a long text file\n" % i for i in range(5000))
    new = base.replace(b"line 2500 ", b"LINE 2500 ")
    delta = diff(base, new)
    info = check_raw(base, new, delta)
    assert info.members[0].codec in ("copy-insert", "dmp")
    assert len(delta) < HEADER + 200


def test_literal_is_used_when_nothing_is_shared():
    base = bytes(range(256)) * 4
    new = hashlib.sha256(b"seed").digest() * 2 + b"unrelated"
    delta = diff(base, new)
    info = check_raw(base, new, delta)
    assert info.members[0].codec == "literal"
    assert len(delta) <= literal_size(new)


def test_delta_bound_holds_when_the_new_file_is_highly_compressible():
    # A base that shares short runs with the new file everywhere tempts a
    # copy/insert delta; the whole file deflated is still smaller.
    base = b"".join(bytes([i % 251 + 1]) + b"\x00" * 97 for i in range(3000))
    new = b"\x00" * len(base)
    delta = diff(base, new)
    assert patch(base, delta) == new
    assert len(delta) <= literal_size(new)


def test_path_is_informational():
    base, new = b"plain text, not a zip", b"plain text, still not a zip"
    assert diff(base, new, path="misnamed.docx") == diff(base, new)
    zbase = zs.Archive((zs.Member("a.txt", b"hello " * 50),)).to_bytes()
    znew = zs.Archive((zs.Member("a.txt", b"hello " * 49 + b"world"),)).to_bytes()
    delta = diff(zbase, znew, path="archive.bin")
    assert delta == diff(zbase, znew)
    assert describe(delta).container == "zip"


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_bytes_like_inputs(wrap):
    base, new = b"abc" * 100, b"abd" * 100
    delta = diff(wrap(base), wrap(new))
    assert delta == diff(base, new)
    assert patch(wrap(base), wrap(delta)) == new
    assert describe(wrap(delta)) == describe(delta)


def test_diff_is_deterministic():
    pair = zs.Archive((zs.Member("a", b"x" * 999), zs.Member("b/", method=0))), \
        zs.Archive((zs.Member("a", b"x" * 998 + b"y"), zs.Member("c", b"new")))
    base, new = (a.to_bytes() for a in pair)
    assert diff(base, new) == diff(base, new)


def test_describe_reads_no_base_and_is_frozen():
    delta = diff(b"a" * 100, b"b" * 100)
    info = describe(delta)
    with pytest.raises(AttributeError):
        info.exact = False  # type: ignore[misc]
    assert describe(delta, limits=Limits()) == info


# --- ZIP archives --------------------------------------------------------------------------


def expected_members(base: bytes, new: bytes) -> tuple[int, int, list[tuple[str, str, bool]]]:
    """kept, removed, and (name, operation, same-content) of the rest in physical order."""
    braw, nraw = zs.raw_members(base), zs.raw_members(new)
    bcontent, ncontent = zs.zip_contents(base), zs.zip_contents(new)
    with zipfile.ZipFile(io.BytesIO(new)) as zf:
        order = [i.filename for i in sorted(zf.infolist(), key=lambda i: i.header_offset)]
    kept = 0
    rest = []
    for name in order:
        if name in braw and braw[name] == nraw[name]:
            kept += 1
            continue
        operation = "patch" if name in braw else "add"
        rest.append((name, operation, bcontent.get(name, b"") == ncontent[name]))
    removed = len(set(braw) - set(nraw))
    return kept, removed, rest


def check_zip(base: bytes, new: bytes, delta: bytes) -> DeltaInfo:
    info = check_common(base, new, delta)
    if info.container == "raw":
        # Only the whole-file fallback may replace a member-wise delta of two ZIPs.
        (member,) = info.members
        assert member.codec == "literal"
        assert len(delta) <= literal_size(new)
        return info
    assert info.container == "zip"
    kept, removed, rest = expected_members(base, new)
    assert info.kept == kept
    assert info.removed == removed
    assert [(m.name, m.operation) for m in info.members] == [(n, op) for n, op, _ in rest]
    for member, (_, _, same) in zip(info.members, rest):
        assert member.codec in ("same", "copy-insert", "dmp")
        assert (member.codec == "same") == same
        assert member.encoded_size >= 0
    return info


@settings(max_examples=250)
@given(zs.archive_pairs())
def test_zip_round_trip(pair):
    base, new = (a.to_bytes() for a in pair)
    check_zip(base, new, diff(base, new))


@settings(max_examples=40)
@given(zs.archives())
def test_zip_against_itself_keeps_everything(spec):
    data = spec.to_bytes()
    delta = diff(data, data)
    info = check_zip(data, data, delta)
    if info.container == "zip":
        assert info.members == () and info.kept == len(spec.members) and info.removed == 0


@settings(max_examples=60)
@given(zs.archives(), st.binary(max_size=200))
def test_zip_to_and_from_plain_bytes(spec, blob):
    archive = spec.to_bytes()
    for base, new in ((archive, blob), (blob, archive)):
        delta = diff(base, new)
        info = check_raw(base, new, delta)
        assert info.container == "raw"


def _zip_of(*members: zs.Member, streamed: bool = False, comment: bytes = b"") -> bytes:
    return zs.Archive(tuple(members), comment=comment, streamed=streamed).to_bytes()


BODY = b"".join(b"<w:p><w:r><w:t>paragraph %d of the report</w:t></w:r></w:p>" % i
                for i in range(400))


@pytest.mark.parametrize("method,level", [(zipfile.ZIP_STORED, None)]
                         + [(zipfile.ZIP_DEFLATED, lv) for lv in (None, 0, 1, 5, 9)])
def test_zip_describe_fields(method, level):
    base = _zip_of(
        zs.Member("mimetype", b"application/x-test", method=zipfile.ZIP_STORED),
        zs.Member("doc.xml", BODY, method=method, level=level),
        zs.Member("old.xml", b"<gone/>" * 50),
        zs.Member("same.xml", b"<same/>" * 50),
        zs.Member("recompressed.xml", b"<r/>" * 300, level=1),
    )
    new = _zip_of(
        zs.Member("mimetype", b"application/x-test", method=zipfile.ZIP_STORED),
        zs.Member("doc.xml", BODY.replace(b"paragraph 200 ", b"paragraph two hundred "),
                  method=method, level=level),
        zs.Member("same.xml", b"<same/>" * 50),
        zs.Member("recompressed.xml", b"<r/>" * 300, level=9),
        zs.Member("media/new.bin", bytes(range(256))),
    )
    delta = diff(base, new)
    info = check_zip(base, new, delta)
    assert info.container == "zip"
    assert info.kept == 2 and info.removed == 1
    assert [(m.name, m.operation) for m in info.members] == [
        ("doc.xml", "patch"), ("recompressed.xml", "patch"), ("media/new.bin", "add")]
    codecs = {m.name: m.codec for m in info.members}
    assert codecs["recompressed.xml"] == "same"
    assert codecs["doc.xml"] in ("copy-insert", "dmp")
    assert len(delta) < HEADER + 256 + 250  # one changed phrase, 256 new incompressible bytes


def test_zip_unreadable_method_is_carried_raw():
    # Method 12 (bzip2) is neither stored nor deflated: its bytes travel as they are.
    blob = bytes(range(200))
    entry = zs.RawEntry(b"data.bz2", blob, method=12, crc=1234, usize=999)
    base = zs.write_zip([zs.stored("a.txt", b"hello" * 40), entry])
    new = zs.write_zip([zs.stored("a.txt", b"hello" * 40),
                        zs.RawEntry(b"data.bz2", blob[:100] + b"changed" + blob[100:],
                                    method=12, crc=4321, usize=1000),
                        zs.RawEntry(b"more.bz2", b"fresh", method=12, crc=5, usize=6)])
    delta = diff(base, new)
    info = check_common(base, new, delta)
    if info.container == "zip":
        assert [(m.name, m.operation) for m in info.members] == [
            ("data.bz2", "raw"), ("more.bz2", "raw")]
        assert info.kept == 1


@pytest.mark.parametrize("streamed_base", [False, True])
@pytest.mark.parametrize("streamed_new", [False, True])
def test_zip_data_descriptors(streamed_base, streamed_new):
    members = [zs.Member(f"part{i}.xml", BODY[i * 100:i * 100 + 3000]) for i in range(5)]
    base = _zip_of(*members, streamed=streamed_base)
    members[2] = zs.Member("part2.xml", BODY[200:3200].replace(b"report", b"memo"))
    new = _zip_of(*members, streamed=streamed_new)
    with zipfile.ZipFile(io.BytesIO(new)) as zf:
        assert all(bool(i.flag_bits & 0x08) == streamed_new for i in zf.infolist())
    info = check_zip(base, new, diff(base, new))
    assert info.container == "zip"
    if streamed_base == streamed_new:
        assert [m.name for m in info.members] == ["part2.xml"]


def test_zip_empty_archives():
    empty = _zip_of()
    one = _zip_of(zs.Member("a", b"x"))
    for base, new in ((empty, empty), (empty, one), (one, empty)):
        check_zip(base, new, diff(base, new))


def test_zip_archive_comment_and_member_comments_change():
    base = _zip_of(zs.Member("a.txt", BODY, comment=b"first"), comment=b"archive v1")
    new = _zip_of(zs.Member("a.txt", BODY, comment=b"second"), comment=b"archive v2, longer")
    delta = diff(base, new)
    info = check_zip(base, new, delta)
    assert info.container == "zip" and info.kept == 1 and info.members == ()
    assert len(delta) < 150
