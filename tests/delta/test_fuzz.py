"""Fuzzing the decoders: patch() and describe() raise DeltaError subclasses and nothing else.

Random bytes mostly die at the magic check, so most examples here are real
deltas (raw and ZIP, every codec, exact and canonical) and EdgeCourier
archives, damaged: as bytes on the wire, and inside the deflated payload
(re-sealed under the original header, so the base hash still matches and the
damage reaches the table, frame, recipe and codec decoders). Whatever
survives must still be the file the delta's result hash names.

Runs derandomized (see tests/conftest.py): thousands of examples, the same
ones on every run.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
import zlib
from collections.abc import Callable
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from edgesync.delta import _copyinsert, _deflate, _dmp, _engine, _zip, describe, diff, patch
from edgesync.delta._wire import Writer
from edgesync.errors import DeltaError
from tests.delta import strategies as zs

HEADER = 69
FUZZ = settings(max_examples=1500, deadline=None)


def _seal(header: bytes, payload: bytes) -> bytes:
    """The payload deflated under ``header`` (its "stored" flag cleared to match)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    header = header[:4] + bytes([header[4] & ~0x02]) + header[5:]
    return header + c.compress(payload) + c.flush()


def _forced_dmp(base: bytes, new: bytes):
    return _engine.CODEC_DMP, [], [_dmp.encode(base, new)]


def _seeds() -> tuple[list[tuple[str, bytes, bytes]], list[tuple[str, bytes, bytes]]]:
    """(name, base, delta) of real deltas, and of real EdgeCourier archives."""
    text = b"".join(b"%d. the edge keeps each version of the document\n" % i for i in range(40))
    edited = text.replace(b"20. the edge", b"20. THE EDGE").replace(b"\n7.", b"\n7 (seven).")
    body = b"".join(b"<w:p><w:t>paragraph %d</w:t></w:p>" % i for i in range(80))
    base_zip = zs.Archive((
        zs.Member("mimetype", b"application/x-test", method=0),
        zs.Member("doc.xml", body),
        zs.Member("gone.xml", b"<gone/>" * 8),
        zs.Member("dir/", method=0),
        zs.Member("same.bin", bytes(range(100)), method=0),
        zs.Member("recompress.xml", b"<r/>" * 50, level=1),
    ), comment=b"v1").to_bytes()
    new_zip = zs.Archive((
        zs.Member("mimetype", b"application/x-test", method=0),
        zs.Member("same.bin", bytes(range(100)), method=0),
        zs.Member("doc.xml", body.replace(b"paragraph 40<", b"paragraph forty<")),
        zs.Member("dir/", method=0),
        zs.Member("recompress.xml", b"<r/>" * 50, level=9),
        zs.Member("added.xml", b"<added>new</added>" * 4, comment=b"c"),
    ), comment=b"v2", streamed=True).to_bytes()
    bz = zs.RawEntry(b"data.bz2", bytes(range(60)), method=12, crc=7, usize=90)
    raw_base = zs.write_zip([zs.stored("a.txt", text), bz])
    raw_new = zs.write_zip([zs.stored("a.txt", edited),
                            zs.RawEntry(b"data.bz2", bytes(range(60))[::-1], method=12, crc=8,
                                        usize=91),
                            zs.RawEntry(b"new.bz2", b"fresh", method=12, crc=9, usize=9)])
    canon_base = zs.write_zip([zs.stored("mimetype", b"x"), zs.deflated("c.xml", body)])
    canon_new = zs.write_zip([zs.stored("mimetype", b"x"),
                              zs.deflated("c.xml", body[::-1],
                                          raw=zs.unreproducible_deflate(body[::-1]))])
    deltas = [
        ("raw copy-insert", text, diff(text, edited)),
        ("raw literal", b"x", diff(b"x", bytes(range(256)))),
        ("raw same", text, diff(text, text)),
        ("zip", base_zip, diff(base_zip, new_zip)),
        ("zip raw members", raw_base, diff(raw_base, raw_new)),
        ("zip canonical", canon_base, diff(canon_base, canon_new)),
        ("zip identical", base_zip, diff(base_zip, base_zip)),
    ]
    with mock.patch.object(_engine, "_choose_codec", _forced_dmp):
        deltas += [("raw dmp", text, diff(text, edited)),
                   ("zip dmp", base_zip, diff(base_zip, new_zip))]
    for name, base, delta in deltas:
        assert patch(base, delta), name  # every seed is valid

    doc_base = zs.Archive((zs.Member("doc.xml", text), zs.Member("b.txt", b"bee " * 30, method=0),
                           zs.Member("img.bin", bytes(range(256)))), ).to_bytes()
    doc_new = zs.Archive((zs.Member("doc.xml", edited), zs.Member("b.txt", b"bee " * 29 + b"wasp",
                                                                  method=0),
                          zs.Member("img.bin", bytes(range(255, -1, -1))),
                          zs.Member("new/ünï.txt", b"new member"))).to_bytes()
    archives = [("edgecourier", doc_base, zs.edgecourier_archive(doc_base, doc_new)),
                ("edgecourier stored", doc_base,
                 zs.edgecourier_archive(doc_base, doc_new, method=zipfile.ZIP_STORED))]
    for name, base, archive in archives:
        assert patch(base, archive), name
    return deltas, archives


DELTAS, ARCHIVES = _seeds()
BASES = [b"", b"x", DELTAS[0][1], DELTAS[3][1], ARCHIVES[0][1]]


def attempt(base: bytes, delta: bytes) -> None:
    """patch and describe may refuse, but only with DeltaError, and never return a wrong file."""
    out = info = None
    try:
        out = patch(base, delta)
    except DeltaError:
        pass
    try:
        info = describe(delta)
    except DeltaError:
        pass
    if out is not None:
        assert isinstance(out, bytes)
        if info is not None and info.result_sha256:
            assert hashlib.sha256(out).hexdigest() == info.result_sha256


_interesting = st.sampled_from([b"\x00", b"\x01", b"\x7f", b"\x80", b"\xff", b"\xff" * 10,
                                b"\x80" * 9 + b"\x01", b"\xff\xff\xff\x7f", b"@@ -",
                                b"PK\x03\x04", b"PK\x05\x06"])


@st.composite
def mutated(draw: st.DrawFn, data: bytes, start: int = 0) -> bytes:
    """``data`` with one to four bytes-level mutations at or after ``start``."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("flip", "set", "insert", "delete", "truncate", "splice")))
        pos = draw(st.integers(min(start, len(out)), len(out)))
        if op == "flip" and pos < len(out):
            out[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and pos < len(out):
            out[pos] = draw(st.sampled_from((0, 1, 0x7F, 0x80, 0xFF)) | st.integers(0, 255))
        elif op == "insert":
            out[pos:pos] = draw(_interesting | st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del out[pos:pos + draw(st.integers(1, 16))]
        elif op == "truncate":
            del out[pos:]
        elif op == "splice" and out:
            src = draw(st.integers(0, len(out) - 1))
            out[pos:pos] = out[src:src + draw(st.integers(1, 32))]
    return bytes(out)


@FUZZ
@given(st.data())
def test_damaged_payloads(data):
    """Damage inside the payload, under the original header: reaches every payload decoder."""
    _, base, delta = data.draw(st.sampled_from(DELTAS))
    payload = zs.payload_of(delta)
    attempt(base, _seal(delta[:HEADER], data.draw(mutated(payload))))


@settings(max_examples=1000, deadline=None)
@given(st.data())
def test_damaged_deltas(data):
    """Damage to the bytes on the wire: header, deflate stream, length."""
    _, base, delta = data.draw(st.sampled_from(DELTAS))
    attempt(base, data.draw(mutated(delta)))


@settings(max_examples=600, deadline=None)
@given(st.data())
def test_random_deltas(data):
    """Random bytes, random payloads under a valid header, random EdgeCourier-looking ZIPs."""
    base = data.draw(st.sampled_from(BASES))
    kind = data.draw(st.sampled_from(("bytes", "header", "payload", "archive")))
    if kind == "bytes":
        delta = data.draw(st.binary(max_size=200))
    elif kind == "header":
        delta = b"ESD\x01" + data.draw(st.binary(max_size=200))
    elif kind == "payload":
        header = (b"ESD\x01" + bytes([data.draw(st.integers(0, 1))])
                  + hashlib.sha256(base).digest() + data.draw(st.binary(min_size=32, max_size=32)))
        payload = data.draw(st.binary(max_size=200) | st.builds(
            lambda kind, rest: kind + rest, st.sampled_from([b"\x00", b"\x01"]),
            st.binary(max_size=200)))
        delta = _seal(header, payload)
    else:
        delta = b"PK\x03\x04" + data.draw(st.binary(max_size=200))
    attempt(base, delta)


# --- the encoder on damaged archives ----------------------------------------------------------

_ZIP_SEEDS = [DELTAS[3][1], DELTAS[4][1], DELTAS[5][1], ARCHIVES[0][1],
              zs.Archive((zs.Member("a.xml", b"<a/>" * 30, comment=b"c"), zs.Member("d/", method=0),
                          zs.Member("b.txt", b"bee", method=0, extra=b"\xfe\xca\x01\x00z")),
                         comment=b"zip", streamed=True).to_bytes()]


@settings(max_examples=600, deadline=None)
@given(st.data())
def test_diff_of_damaged_archives(data):
    """Any bytes diff and patch: a damaged ZIP is modelled, or diffed as bytes.

    A damaged member's deflate stream may still inflate, to a stream no recipe
    reproduces: that member is rebuilt canonically, and the delta says so.
    """
    seed = data.draw(st.sampled_from(_ZIP_SEEDS))
    odd = data.draw(mutated(seed))
    for base, new in ((seed, odd), (odd, seed), (odd, odd)):
        delta = diff(base, new)
        info = describe(delta)
        out = patch(base, delta)
        assert hashlib.sha256(out).hexdigest() == info.result_sha256
        if info.exact:
            assert out == new
        else:
            assert info.container == "zip"
            assert patch(base, delta) == out


# --- damage to one structure inside a well-formed payload ------------------------------------


def _blob(data: bytes) -> bytes:
    w = Writer()
    w.blob(data)
    return w.getvalue()


def _structures() -> dict[str, tuple[bytes, bytes, bytes, Callable[[bytes], bytes]]]:
    """For each structure a payload nests: (base, header, structure, payload around it).

    The structure is damaged and then framed soundly (lengths and all), so the
    damage reaches that structure's own decoder.
    """
    text = DELTAS[0][1]
    edited = text.replace(b"the edge", b"THE EDGE")
    members = [zs.stored("mimetype", b"application/x-test"),
               zs.deflated("doc.xml", text, descriptor=True),
               zs.stored("b.txt", b"bee " * 20, comment=b"note")]
    base = zs.write_zip(members, comment=b"archive comment")
    made_up = b"ESD\x01\x01" + hashlib.sha256(base).digest() + hashlib.sha256(b"?").digest()
    parsed = _zip.parse(base)
    frame = _zip.write_frame(parsed, _zip.directory_truths(parsed))
    n = len(parsed.entries)
    # Every member kept, the new frame the one copy/insert target.
    table = b"\x01" + bytes([n, n]) + bytes(n) + bytes(n) + b"\x00" + b"\x01"

    def frame_payload(new_frame: bytes) -> bytes:
        return table + _blob(_copyinsert.encode([(frame, new_frame)])) + _blob(b"") + _blob(b"")

    # doc.xml recompressed at level 1: its recipe is near the end of a real payload.
    members[1] = zs.deflated("doc.xml", text, raw=zs.raw_deflate(text, 1), descriptor=True)
    recompressed = diff(base, zs.write_zip(members, comment=b"archive comment"))
    payload = zs.payload_of(recompressed)
    at = payload.rindex(_deflate.Recipe(level=1).to_bytes())
    text_header = b"ESD\x01\x01" + hashlib.sha256(text).digest() + hashlib.sha256(b"?").digest()
    return {
        "frame": (base, made_up, frame, frame_payload),
        "recipe": (base, recompressed[:HEADER], payload[at:], lambda tail: payload[:at] + tail),
        "ci": (text, text_header, _copyinsert.encode([(text, edited)]),
               lambda ci: b"\x00\x01" + ci),
        "dmp": (text, text_header, _dmp.encode(text, edited),
                lambda patch_text: b"\x00\x02" + patch_text),
    }


STRUCTURES = _structures()


@FUZZ
@given(st.data())
def test_damaged_structures(data):
    """A damaged ZIP frame, deflate recipe, copy/insert or dmp section in a sound payload."""
    base, header, structure, frame = STRUCTURES[data.draw(st.sampled_from(sorted(STRUCTURES)))]
    attempt(base, _seal(header, frame(data.draw(mutated(structure)))))


def test_structure_seeds_are_sound():
    """Undamaged, each seed gets to the result hash check (the recipe's passes it)."""
    for name, (base, header, structure, frame) in STRUCTURES.items():
        try:
            patch(base, _seal(header, frame(structure)))
        except DeltaError as exc:
            assert name != "recipe" and "result hash" in str(exc), (name, exc)
        else:
            assert name == "recipe"


@settings(max_examples=1000, deadline=None)
@given(st.data())
def test_damaged_edgecourier_archives(data):
    """Damage to the archive's bytes, or to a member's patch text inside a sound archive."""
    _, base, archive = data.draw(st.sampled_from(ARCHIVES))
    if data.draw(st.booleans()):
        attempt(base, data.draw(mutated(archive)))
        return
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        members = {info.filename: zf.read(info) for info in zf.infolist()}
    name = data.draw(st.sampled_from(sorted(members)))
    members[name] = data.draw(mutated(members[name]))
    if data.draw(st.integers(0, 9)) == 0:
        members[data.draw(zs.names)] = members.pop(name)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for member, content in members.items():
            zf.writestr(zipfile.ZipInfo(member, date_time=(2017, 1, 1, 0, 0, 0)), content,
                        compress_type=zipfile.ZIP_DEFLATED)
    attempt(base, out.getvalue())
