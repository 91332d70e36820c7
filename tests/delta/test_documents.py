"""Real office documents, saved by the libraries people use, after the edits people make.

Every (document type, edit) of ``edgesync.testing.documents.EDITS`` must
round-trip exactly, and the delta must be a small fraction of the file:
whatever the edit did not add (new media, a new slide's part) travels as a
delta, not as the file. These are size properties of the format, asserted
loosely; nothing here measures time.
"""

from __future__ import annotations

import io
import zipfile

import pytest

from edgesync.delta import describe, diff, patch
from edgesync.testing import documents
from tests.delta import strategies as zs

# Documents of realistic size, cheap to generate (well under a second each).
MAKERS = {
    "docx": lambda: documents.make_docx(paragraphs=80, images=2, seed=11),
    "xlsx": lambda: documents.make_xlsx(rows=500, seed=11),
    "pptx": lambda: documents.make_pptx(slides=10, seed=11),
    "odt": lambda: documents.make_odt(paragraphs=150, seed=11),
    "text": lambda: documents.make_text(lines=1500, seed=11),
}
EDITORS = {
    "docx": documents.edit_docx,
    "xlsx": documents.edit_xlsx,
    "pptx": documents.edit_pptx,
    "odt": documents.edit_odt,
    "text": documents.edit_text,
}
CASES = [(kind, edit) for kind, edits in documents.EDITS.items() for edit in edits]
# Edits of one character or one cell: the delta is small in absolute terms too.
TINY = {("docx", "type"), ("docx", "delete"), ("xlsx", "cell"), ("pptx", "type"),
        ("odt", "type"), ("odt", "delete"), ("text", "type"), ("text", "delete")}

MIME_ODT = b"application/vnd.oasis.opendocument.text"


def test_every_document_type_is_covered():
    assert set(documents.EDITS) == set(MAKERS) == set(EDITORS)


@pytest.fixture(scope="module")
def originals() -> dict[str, bytes]:
    return {kind: make() for kind, make in MAKERS.items()}


@pytest.fixture(scope="module")
def versions(originals) -> dict[tuple[str, str], bytes]:
    return {(kind, edit): EDITORS[kind](originals[kind], edit) for kind, edit in CASES}


def added_bytes(base: bytes, new: bytes) -> int:
    """Compressed bytes of the members ``new`` has and ``base`` has not."""
    old = zs.raw_members(base)
    return sum(len(raw) for name, (_, raw) in zs.raw_members(new).items() if name not in old)


@pytest.mark.parametrize("kind, edit", CASES)
def test_exact_round_trip(originals, versions, kind, edit):
    base, new = originals[kind], versions[(kind, edit)]
    assert base != new
    delta = diff(base, new, path=f"file.{kind}")
    assert patch(base, delta) == new
    info = describe(delta)
    assert info.exact
    assert info.container == ("raw" if kind == "text" else "zip")


@pytest.mark.parametrize("kind, edit", CASES)
def test_delta_is_a_small_fraction_of_the_file(originals, versions, kind, edit):
    base, new = originals[kind], versions[(kind, edit)]
    delta = diff(base, new)
    added = 0 if kind == "text" else added_bytes(base, new)
    assert len(delta) < 0.10 * len(new) + added, (len(delta), len(new), added)
    if (kind, edit) in TINY:
        assert len(delta) < 2048


@pytest.mark.parametrize("kind, edit", [c for c in CASES if c[0] != "text"])
def test_only_changed_members_travel(originals, versions, kind, edit):
    base, new = originals[kind], versions[(kind, edit)]
    old, cur = zs.zip_contents(base), zs.zip_contents(new)
    changed = {name for name, data in cur.items() if old.get(name) != data}
    info = describe(diff(base, new))
    assert {m.name for m in info.members} == changed
    assert info.kept == len(cur) - len(changed)
    assert info.removed == len(set(old) - set(cur))
    for m in info.members:
        assert m.operation == ("patch" if m.name in old else "add")


@pytest.mark.parametrize("edit", documents.EDITS["odt"])
def test_odf_mimetype_stays_first_and_stored(originals, versions, edit):
    base = originals["odt"]
    out = patch(base, diff(base, versions[("odt", edit)]))
    with zipfile.ZipFile(io.BytesIO(out)) as zf:
        first = zf.infolist()[0]
        assert first.filename == "mimetype"
        assert first.compress_type == zipfile.ZIP_STORED
        assert zf.read("mimetype") == MIME_ODT
    # ODF readers sniff the type at a fixed offset: no extra field before it.
    assert out[30:38] == b"mimetype" and out[38:38 + len(MIME_ODT)] == MIME_ODT


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_a_chain_of_edits(originals, kind):
    """Version after version, each delta against the previous result."""
    current = originals[kind]
    for step, edit in enumerate(documents.EDITS[kind]):
        new = EDITORS[kind](current, edit, seed=step)
        delta = diff(current, new)
        result = patch(current, delta)
        assert result == new
        current = result


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_unchanged_document(originals, kind):
    data = originals[kind]
    delta = diff(data, data)
    assert patch(data, delta) == data
    n = len(zs.raw_members(data)) if kind != "text" else 0
    assert len(delta) < 69 + 2 * n + 64  # the header, and a table of "keep" operations
    info = describe(delta)
    assert info.exact and info.result_sha256 == info.base_sha256


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_reverse_delta(originals, versions, kind):
    """Undo: the delta from the edited version back to the original."""
    edit = documents.EDITS[kind][0]
    base, new = versions[(kind, edit)], originals[kind]
    delta = diff(base, new)
    assert patch(base, delta) == new
    assert len(delta) < 0.10 * len(new)
