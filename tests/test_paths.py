"""``normalize_path``: every rule of its docstring, and nothing but InvalidPathError escapes."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgesync.errors import InvalidPathError
from edgesync.paths import MAX_NAME_BYTES, MAX_PATH_CHARS, normalize_path


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}...({len(value)})"  # type: ignore[arg-type]


@pytest.mark.parametrize(("path", "expected"), [
    ("Reports/Q3.docx", "Reports/Q3.docx"),
    ("a", "a"),
    (".hidden/.bashrc", ".hidden/.bashrc"),
    ("..dots/...three", "..dots/...three"),
    (" leading space/x", " leading space/x"),
    ("hello? sausage/êé/Hello, 世界/ \" ' @ < > & ?/z.txt",
     "hello? sausage/êé/Hello, 世界/ \" ' @ < > & ?/z.txt"),
    ("console.txt/auxiliary/com10/lpt", "console.txt/auxiliary/com10/lpt"),  # not devices
    ("x/a:b.txt", "x/a:b.txt"),  # a colon is only a drive at the start
    ("cafe\u0301/re\u0301sume\u0301.txt", "caf\u00e9/r\u00e9sum\u00e9.txt"),  # NFD -> NFC
    ("\u212b.txt", "\u00c5.txt"),  # ANGSTROM SIGN -> A WITH RING ABOVE
    ("é" * (MAX_NAME_BYTES // 2), "é" * (MAX_NAME_BYTES // 2)),  # 254 bytes
    ("/".join(["a" * 100] * 10) + "/" + "b" * 13, "/".join(["a" * 100] * 10) + "/" + "b" * 13),
    # 1030 characters in NFD, 1015 in NFC: the limit applies to the normal form.
    ("e\u0301" * 15 + "/" + "/".join(["x" * 99] * 10),
     "\u00e9" * 15 + "/" + "/".join(["x" * 99] * 10)),
], ids=_short)
def test_valid_paths_are_returned_in_nfc(path: str, expected: str) -> None:
    assert normalize_path(path) == expected
    assert unicodedata.is_normalized("NFC", expected)


@pytest.mark.parametrize(("path", "rule"), [
    ("", "is empty"),
    ("/etc/passwd", "is absolute"),
    ("C:Windows", "is absolute"),
    ("c:/x", "is absolute"),
    ("a\\b", "contains a backslash"),
    ("a//b", "has an empty component"),
    ("a/", "has an empty component"),
    ("a/./b", "has a '.' component"),
    (".", "has a '.' component"),
    ("a/../b", "has a '..' component"),
    ("..", "has a '..' component"),
    ("a\x00b", "contains a NUL or control character"),
    ("tab\there", "contains a NUL or control character"),
    ("new\nline", "contains a NUL or control character"),
    ("del\x7f", "contains a NUL or control character"),
    ("trailing space /x", "ends in a space or a dot"),
    ("x/trailing dot.", "ends in a space or a dot"),
    ("CON", "reserved device name"),
    ("docs/aux.txt", "reserved device name"),
    ("Nul.tar.gz", "reserved device name"),
    ("com1", "reserved device name"),
    ("LPT9.log", "reserved device name"),
    ("a" * (MAX_NAME_BYTES + 1), f"at most {MAX_NAME_BYTES} are allowed"),
    ("é" * 128, f"a name is 256 bytes long in UTF-8; at most {MAX_NAME_BYTES}"),
    ("a/" * (MAX_PATH_CHARS // 2) + "b", f"at most {MAX_PATH_CHARS} are allowed"),
    ("\ud800.txt", "not valid Unicode"),
    ("a/\udfff", "not valid Unicode"),
], ids=_short)
def test_each_rule_is_enforced_and_named(path: str, rule: str) -> None:
    with pytest.raises(InvalidPathError, match=rule.replace(".", r"\.")) as raised:
        normalize_path(path)
    assert raised.value.path == path[:MAX_PATH_CHARS]


@pytest.mark.parametrize("path", [None, b"a.txt", 7], ids=repr)
def test_a_path_that_is_not_text_is_invalid(path: object) -> None:
    with pytest.raises(InvalidPathError, match=f"must be text, not {type(path).__name__}"):
        normalize_path(path)  # type: ignore[arg-type]


# Characters that exercise every rule: separators, dots, spaces, controls,
# combining marks, compatibility characters, surrogates and device names.
_TRICKY = st.sampled_from(["/", ".", " ", "\\", ":", "\x00", "\n", "\u0301", "\u212b",
                           "e", "A", "con", "aux", "é", "\ud800", "😀"])
_PIECES = st.lists(st.one_of(_TRICKY, st.text(min_size=1, max_size=5)), max_size=12).map("".join)
_ANY_TEXT = st.text(st.characters(exclude_categories=()))  # surrogates included


@given(st.one_of(_PIECES, _ANY_TEXT, st.text(max_size=2000)))
def test_normal_form_is_a_fixed_point_or_the_error_is_invalid_path(path: str) -> None:
    try:
        normal = normalize_path(path)
    except InvalidPathError as exc:
        assert exc.message
        return
    assert isinstance(normal, str)
    assert normalize_path(normal) == normal
