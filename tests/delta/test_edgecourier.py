"""patch() applies the patch archives of the EdgeCourier prototype (SEC 2017).

The archives are made here, as the prototype made them: for each member that
changed, diff-match-patch's ``patch_toText(patch_make(old, new))`` at the
member's path; each new (or binary) member whole.
"""

from __future__ import annotations

import io
import zipfile

import pytest
from hypothesis import given, settings

from edgesync.delta import Limits, describe, diff, patch
from edgesync.errors import (
    CorruptDeltaError,
    DeltaError,
    LimitExceededError,
    UnsupportedFormatError,
)
from edgesync.testing import documents
from tests.delta import strategies as zs

MIME = b"application/vnd.oasis.opendocument.text"


def check_applies(base: bytes, new: bytes, archive: bytes) -> bytes:
    """The result holds new's members with new's contents; applying twice is identical."""
    out = patch(base, archive)
    assert patch(base, archive) == out
    got, want = zs.zip_contents(out), zs.zip_contents(new)
    assert {name: got[name] for name in want} == want
    # Members EdgeCourier cannot remove stay as the base had them.
    for name, data in zs.zip_contents(base).items():
        if name not in want:
            assert got[name] == data
    info = describe(archive)
    assert info.container == "edgecourier-2017"
    assert info.exact is False
    assert info.base_sha256 == "" and info.result_sha256 == ""
    assert info.size == len(archive)
    return out


@settings(max_examples=120)
@given(zs.archive_pairs(remove=False))
def test_generated_archives(pair):
    base, new = (a.to_bytes() for a in pair)
    archive = zs.edgecourier_archive(base, new)
    check_applies(base, new, archive)


@pytest.fixture(scope="module")
def docx_base() -> bytes:
    return documents.make_docx(paragraphs=40, images=1, seed=5)


@pytest.fixture(scope="module")
def odt_base() -> bytes:
    return documents.make_odt(paragraphs=40, seed=5)


@pytest.mark.parametrize("edit", documents.EDITS["docx"])
def test_docx_edits(docx_base, edit):
    new = documents.edit_docx(docx_base, edit)
    archive = zs.edgecourier_archive(docx_base, new)
    out = check_applies(docx_base, new, archive)
    with zipfile.ZipFile(io.BytesIO(out)) as zf:
        assert zf.namelist()[:len(zipfile.ZipFile(io.BytesIO(docx_base)).namelist())] == \
            zipfile.ZipFile(io.BytesIO(docx_base)).namelist()
    info = describe(archive)
    kinds = {m.name: (m.operation, m.codec) for m in info.members}
    assert kinds["word/document.xml"] == ("patch", "dmp")
    if edit == "image":
        added = [n for n, (op, codec) in kinds.items() if op == "add"]
        assert added and all(n.startswith("word/media/") for n in added)
        assert all(kinds[n][1] == "literal" for n in added)


@pytest.mark.parametrize("edit", documents.EDITS["odt"])
def test_odt_edits_keep_the_mimetype_first_and_stored(odt_base, edit):
    new = documents.edit_odt(odt_base, edit)
    out = check_applies(odt_base, new, zs.edgecourier_archive(odt_base, new))
    with zipfile.ZipFile(io.BytesIO(out)) as zf:
        first = zf.infolist()[0]
        assert first.filename == "mimetype"
        assert first.compress_type == zipfile.ZIP_STORED
    assert out[30:38] == b"mimetype" and out[38:38 + len(MIME)] == MIME


def test_stored_archive_and_stored_members():
    base = zs.Archive((zs.Member("a.txt", b"first line\nsecond line\n", method=0),
                       zs.Member("b.xml", b"<b>old</b>" * 20))).to_bytes()
    new = zs.Archive((zs.Member("a.txt", b"first line\nsecond, edited line\n", method=0),
                      zs.Member("b.xml", b"<b>new</b>" * 20))).to_bytes()
    archive = zs.edgecourier_archive(base, new, method=zipfile.ZIP_STORED)
    out = check_applies(base, new, archive)
    with zipfile.ZipFile(io.BytesIO(out)) as zf:
        assert zf.getinfo("a.txt").compress_type == zipfile.ZIP_STORED   # stays stored
        assert zf.getinfo("b.xml").compress_type == zipfile.ZIP_DEFLATED


def test_new_members_are_appended_canonically():
    base = zs.Archive((zs.Member("a.txt", b"alpha"),)).to_bytes()
    new = zs.Archive((zs.Member("a.txt", b"alpha"), zs.Member("dossier/été.txt", b"new " * 9),
                      zs.Member("b.bin", bytes(range(256))))).to_bytes()
    out = check_applies(base, new, zs.edgecourier_archive(base, new))
    with zipfile.ZipFile(io.BytesIO(out)) as zf:
        assert zf.namelist() == ["a.txt", "dossier/été.txt", "b.bin"]
        for name in ("dossier/été.txt", "b.bin"):
            info = zf.getinfo(name)
            assert info.compress_type == zipfile.ZIP_DEFLATED
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.extra == b""
        assert zf.getinfo("dossier/été.txt").flag_bits & 0x800


def test_a_binary_member_is_replaced_whole():
    base = zs.Archive((zs.Member("img.png", documents.make_png(8, 8, 1), method=0),)).to_bytes()
    new = zs.Archive((zs.Member("img.png", documents.make_png(8, 8, 2), method=0),)).to_bytes()
    check_applies(base, new, zs.edgecourier_archive(base, new))


def test_an_empty_archive_changes_nothing_but_the_canonical_form():
    base = zs.Archive((zs.Member("a.txt", b"alpha"),)).to_bytes()
    empty = zs.Archive(()).to_bytes()
    assert empty.startswith(b"PK\x05\x06")
    out = patch(base, empty)
    assert zs.zip_contents(out) == zs.zip_contents(base)
    assert describe(empty).members == ()


def test_the_result_can_be_diffed_and_patched_again(docx_base):
    new = documents.edit_docx(docx_base, "type")
    out = patch(docx_base, zs.edgecourier_archive(docx_base, new))
    delta = diff(docx_base, out)
    assert describe(delta).exact
    assert patch(docx_base, delta) == out


# --- refusals -----------------------------------------------------------------------------

BASE = zs.Archive((zs.Member("doc.xml", b"<p>the quick brown fox jumps over the lazy dog</p>\n"
                             * 20), zs.Member("img.bin", bytes(range(200)) * 3, method=0),
                   zs.Member("data.bz2", b"", method=0))).to_bytes()


def archive_of(**members: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2017, 6, 1, 0, 0, 0)), data,
                        compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


@pytest.mark.parametrize("patch_text", [
    # Context that is nowhere in the member.
    b"@@ -1,20 +1,20 @@\n-QQQQQQQQQQQQQQQQQQQQ\n+RRRRRRRRRRRRRRRRRRRR\n",
    # Not a valid patch text.
    b"@@ -x,y +z @@\n-a\n",
    b"@@ -1,3 +1,3 @@\n?bad line\n",
    # Not UTF-8.
    b"@@ -1,3 +1,3 @@\n-\xff\xfe\n",
])
def test_a_patch_that_does_not_apply(patch_text):
    with pytest.raises(CorruptDeltaError):
        patch(BASE, archive_of(**{"doc.xml": patch_text}))


def test_a_patch_for_a_member_the_base_does_not_have():
    text = zs.dmp_patch_text("abc", "abd").encode()
    with pytest.raises(CorruptDeltaError):
        patch(BASE, archive_of(**{"missing.xml": text}))


def test_a_base_that_is_not_a_zip():
    archive = archive_of(**{"doc.xml": b"whole"})
    with pytest.raises(CorruptDeltaError):
        patch(b"plain bytes, not a zip", archive)


def test_a_patch_archive_outside_the_model():
    bad = zs.write_zip([zs.stored("../evil.xml", b"x")])
    with pytest.raises(UnsupportedFormatError):
        patch(BASE, bad)
    with pytest.raises(UnsupportedFormatError):
        describe(bad)
    dup = zs.write_zip([zs.stored("doc.xml", b"x"), zs.stored("doc.xml", b"y")])
    with pytest.raises(UnsupportedFormatError):
        patch(BASE, dup)


def test_a_damaged_patch_archive_member():
    bad = zs.write_zip([zs.RawEntry(b"doc.xml", b"\xff\xff\xff\xff", method=8, usize=10)])
    with pytest.raises(CorruptDeltaError):
        patch(BASE, bad)
    with pytest.raises(CorruptDeltaError):
        describe(bad)


def test_a_patch_archive_member_with_an_unknown_method():
    bad = zs.write_zip([zs.RawEntry(b"doc.xml", b"xx", method=12, crc=0, usize=2)])
    with pytest.raises(UnsupportedFormatError):
        patch(BASE, bad)


@pytest.mark.parametrize("cut", [4, 10, 30, 60, -30, -10, -1])
def test_a_truncated_patch_archive(cut):
    doc = zs.zip_contents(BASE)["doc.xml"]
    text = zs.dmp_patch_text(doc.decode(), doc.decode().replace("lazy dog", "lazy cat", 1))
    archive = archive_of(**{"doc.xml": text.encode(), "new.txt": b"a new member"})
    assert len(archive) > 100
    with pytest.raises(DeltaError):
        patch(BASE, archive[:cut])


def test_limits():
    doc = zs.zip_contents(BASE)["doc.xml"]
    text = zs.dmp_patch_text(doc.decode(), doc.decode().replace("fox", "cat", 1)).encode()
    archive = archive_of(**{"doc.xml": text})
    assert zs.zip_contents(patch(BASE, archive))["doc.xml"] == doc.replace(b"fox", b"cat", 1)
    with pytest.raises(LimitExceededError) as info:
        patch(BASE, archive, limits=Limits(max_content_size=len(doc) // 2))
    assert info.value.limit == "max_content_size"
    with pytest.raises(LimitExceededError) as info:
        patch(BASE, archive, limits=Limits(max_result_size=100))
    assert info.value.limit == "max_result_size"
    with pytest.raises(LimitExceededError) as info:
        patch(BASE, archive, limits=Limits(max_members=2))   # the base has 3
    assert info.value.limit == "max_members"
    many = archive_of(**{f"new{i}.txt": b"x" for i in range(5)})
    with pytest.raises(LimitExceededError) as info:
        patch(BASE, many, limits=Limits(max_members=4))
    assert info.value.limit == "max_members"
    with pytest.raises(LimitExceededError) as info:
        describe(many, limits=Limits(max_members=4))
    assert info.value.limit == "max_members"
    bomb = archive_of(**{"new.bin": b"\x00" * (2 << 20)})
    with pytest.raises(LimitExceededError) as info:
        patch(BASE, bomb, limits=Limits(max_expansion=2, expansion_allowance=1 << 20))
    assert info.value.limit == "max_expansion"


def test_a_base_member_larger_than_the_content_limit_is_not_truncated():
    """The base content a patch applies to is never silently cut at the limit."""
    big = b"".join(b"line %06d of a long member\n" % i for i in range(4000))
    edited = big.replace(b"line 000003 ", b"line three ")
    base = zs.Archive((zs.Member("big.txt", big),)).to_bytes()
    text = zs.dmp_patch_text(big.decode(), edited.decode())  # an edit near the start
    archive = archive_of(**{"big.txt": text.encode()})
    assert zs.zip_contents(patch(base, archive))["big.txt"] == edited
    with pytest.raises(LimitExceededError) as info:
        patch(base, archive, limits=Limits(max_content_size=len(big) // 2))
    assert info.value.limit == "max_content_size"
