"""The wire-format document states what the code does."""

from __future__ import annotations

from pathlib import Path

from edgesync.delta import _engine

DOC = (Path(__file__).parent.parent / "docs" / "delta-format.md").read_text(encoding="utf-8")


def test_the_documented_preset_dictionary_is_the_one_in_use():
    section = DOC[DOC.index("### 1.1 The preset dictionary"):DOC.index("## 2. Payload")]
    listing = section.split("```")[1]
    assert "".join(listing.split()).encode("ascii") == _engine.PAYLOAD_DICTIONARY
    assert f"({len(_engine.PAYLOAD_DICTIONARY)} bytes" in section


def test_the_documented_header_is_the_one_in_use():
    assert f"format version: `{_engine.VERSION:02x}`" in DOC
    assert _engine.HEADER_SIZE == 69 and "| 69 | … | payload" in DOC
