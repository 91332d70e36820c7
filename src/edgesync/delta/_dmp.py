"""The diff-match-patch text codec: the paper's, kept for comparison and for old archives.

Member bytes are mapped to text as Latin-1, which is a bijection, so any
bytes survive the round trip; ``patch_toText`` then escapes what is not
ASCII. The encoder never relies on diff-match-patch's wall-clock deadline
(its default of one second makes output depend on CPU speed and load, and
on large members gives up into one huge replace): it runs without a deadline,
and the engine only offers it members whose edit is known to be small.
"""

from __future__ import annotations

from diff_match_patch import diff_match_patch

from edgesync.errors import CorruptDeltaError

__all__ = ["apply_text", "decode", "edit_span", "encode"]


def _engine() -> diff_match_patch:
    dmp = diff_match_patch()
    dmp.Diff_Timeout = 0  # deterministic: no deadline
    return dmp


def edit_span(base: bytes, new: bytes) -> int:
    """Length of the longer of the two middles left once the common ends are cut."""
    dmp = _engine()
    old_text, new_text = base.decode("latin-1"), new.decode("latin-1")
    prefix = dmp.diff_commonPrefix(old_text, new_text)
    suffix = dmp.diff_commonSuffix(old_text[prefix:], new_text[prefix:])
    return max(len(old_text), len(new_text)) - prefix - suffix


def encode(base: bytes, new: bytes) -> bytes:
    """``patch_toText`` of the patches turning ``base`` into ``new`` (ASCII bytes)."""
    dmp = _engine()
    old_text, new_text = base.decode("latin-1"), new.decode("latin-1")
    diffs = dmp.diff_main(old_text, new_text, False)
    if len(diffs) > 2:
        dmp.diff_cleanupEfficiency(diffs)
    patches = dmp.patch_make(old_text, diffs)
    return dmp.patch_toText(patches).encode("ascii")


def apply_text(patch_text: str, base_text: str, what: str) -> str:
    """Apply ``patch_toText`` output to ``base_text``; every hunk must apply."""
    dmp = _engine()
    try:
        patches = dmp.patch_fromText(patch_text)
        result, applied = dmp.patch_apply(patches, base_text)
    except (ValueError, IndexError, TypeError, UnicodeError) as exc:
        raise CorruptDeltaError(f"{what}: not a valid diff-match-patch patch ({exc})") from exc
    if not all(applied):
        failed = applied.count(False)
        raise CorruptDeltaError(
            f"{what}: {failed} of {len(applied)} diff-match-patch hunks do not apply to the base")
    return result


def decode(patch: bytes, base: bytes, what: str) -> bytes:
    """The bytes :func:`encode` was given as ``new``."""
    try:
        text = patch.decode("ascii")
    except UnicodeDecodeError as exc:
        raise CorruptDeltaError(f"{what}: a diff-match-patch patch must be ASCII") from exc
    result = apply_text(text, base.decode("latin-1"), what)
    try:
        return result.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise CorruptDeltaError(f"{what}: the patch produced characters outside bytes") from exc
