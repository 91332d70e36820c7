"""Reading the patch archives of the EdgeCourier prototype (SEC 2017).

Such an archive is a ZIP holding, at the path of each member that changed,
the diff-match-patch ``patch_toText`` of that member (old to new), and, at
the path of each new or binary member, the member whole (told apart from a
patch by the ``@@ -`` that every patch text starts with). Members it
does not mention are unchanged. It carries no hashes and no ZIP metadata, so
the result is rebuilt canonically: the base's archive with the patched
members recompressed by :data:`edgesync.delta._deflate.CANONICAL` and new
members appended with a fixed timestamp (1980-01-01). Applying the same
archive to the same base always gives the same bytes.
"""

from __future__ import annotations

import zlib

from edgesync.delta import _deflate, _dmp, _zip
from edgesync.delta._types import DeltaInfo, Limits, MemberInfo
from edgesync.delta._wire import inflate
from edgesync.errors import CorruptDeltaError, LimitExceededError, UnsupportedFormatError

__all__ = ["apply", "describe"]

_DOS_EPOCH_DATE = (0 << 9) | (1 << 5) | 1  # 1980-01-01


def _archive(delta: bytes, limits: Limits) -> tuple[_zip.Archive, list[bytes]]:
    try:
        archive = _zip.parse(delta)
    except _zip.NotModelled as exc:
        raise UnsupportedFormatError(
            f"this ZIP is not an EdgeCourier 2017 patch archive edgesync can read ({exc})") \
            from exc
    if len(archive.entries) > limits.max_members:
        raise LimitExceededError(f"the patch archive has more than {limits.max_members} members",
                                 limit="max_members")
    contents = []
    budget = limits.max_expansion * len(delta) + limits.expansion_allowance
    limit_name = "max_expansion"
    if limits.max_content_size < budget:
        budget, limit_name = limits.max_content_size, "max_content_size"
    for entry in archive.entries:
        raw = delta[entry.data_start:entry.data_end]
        if entry.method == 0:
            content = raw
        elif entry.method == 8:
            content = inflate(raw, budget, f"patch archive member {entry.name!r}", limit_name)
        else:
            raise UnsupportedFormatError(
                f"patch archive member {entry.name!r} uses compression method {entry.method}")
        budget -= len(content)
        if budget < 0:
            raise LimitExceededError(f"the patch archive inflates past Limits.{limit_name}",
                                     limit=limit_name)
        contents.append(content)
    return archive, contents


def _text(data: bytes) -> tuple[str, str]:
    """Member bytes as text, and the encoding that maps them back."""
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def apply(base: bytes, delta: bytes, limits: Limits) -> bytes:
    """Apply an EdgeCourier 2017 patch archive to ``base`` and rebuild canonically."""
    patch_zip, patch_contents = _archive(delta, limits)
    try:
        base_zip = _zip.parse(base)
    except _zip.NotModelled as exc:
        raise CorruptDeltaError(
            f"an EdgeCourier patch archive applies to a ZIP document, and this base is not "
            f"one edgesync can rebuild ({exc})") from exc
    if len(base_zip.entries) > limits.max_members:
        raise LimitExceededError(f"the base has more than {limits.max_members} members",
                                 limit="max_members")
    truths = _zip.directory_truths(base_zip)
    # Through the frame, so that every derivable field is derived again after patching.
    model = _zip.read_frame(_zip.write_frame(base_zip, truths), max_members=limits.max_members)
    datas = [base[e.data_start:e.data_end] for e in base_zip.entries]
    index = {e.name: i for i, e in enumerate(model.entries)}
    budget = limits.max_content_size
    for pentry, pcontent in zip(patch_zip.entries, patch_contents):
        what = f"member {pentry.name.decode('utf-8', 'replace')!r}"
        i = index.get(pentry.name)
        is_patch = pcontent.startswith(b"@@ -")
        if i is not None and not is_patch:
            content = pcontent
        elif i is None:
            if is_patch:
                raise CorruptDeltaError(f"{what} is a patch, but the base has no such member")
            content = pcontent
            entry = _zip.Entry(
                name=pentry.name, l_version=20, l_flags=0x800 if _is_utf8(pentry.name) else 0,
                method=8, l_time=0, l_date=_DOS_EPOCH_DATE, l_crc=None, l_csize=None,
                l_usize=None, l_extra=b"", data_start=None, data_end=None, dd=0, central=None)
            model.entries.append(entry)
            model.central.append(_zip.Central(
                len(model.entries) - 1, 20, 20, entry.l_flags, 8, 0, _DOS_EPOCH_DATE, None,
                None, None, 0, 0, 0, None, pentry.name, b"", b""))  # type: ignore[arg-type]
            datas.append(b"")
            truths.append(_zip.Truth(0, 0, 0))
            i = len(model.entries) - 1
        else:
            bentry = base_zip.entries[i]
            raw = datas[i]
            if bentry.method == 8:
                base_content = inflate(raw, budget, f"{what} of the base")
                budget -= len(base_content)
            elif bentry.method == 0:
                base_content = raw
            else:
                raise CorruptDeltaError(f"{what} of the base uses compression method "
                                        f"{bentry.method}; it cannot be patched")
            try:
                patch_text = pcontent.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CorruptDeltaError(f"{what}: the patch is not UTF-8 text") from exc
            text, encoding = _text(base_content)
            try:
                content = _dmp.apply_text(patch_text, text, what).encode(encoding)
            except UnicodeEncodeError as exc:
                raise CorruptDeltaError(f"{what}: the patch produced text that cannot be "
                                        f"written as {encoding}") from exc
        budget -= len(content)
        if budget < 0:
            raise LimitExceededError("the patched members exceed max_content_size",
                                     limit="max_content_size")
        entry = model.entries[i]
        if entry.method == 8:
            data = _deflate.deflate(content, _deflate.CANONICAL)
        elif entry.method == 0:
            data = content
        else:
            raise CorruptDeltaError(f"{what} of the base uses compression method "
                                    f"{entry.method}; it cannot be patched")
        # Every size and CRC of this entry is derived from the new content.
        entry.l_crc = entry.l_csize = entry.l_usize = None
        if isinstance(entry.dd, bytes):
            entry.dd = 1 if entry.dd.startswith(b"PK\x07\x08") else 2
        rec = model.central[_central_of(model, i)]
        model.central[_central_of(model, i)] = rec._replace(crc=None, csize=None, usize=None)
        datas[i] = data
        truths[i] = _zip.Truth(zlib.crc32(content), len(content), len(data))
    if len(model.entries) > limits.max_members:
        raise LimitExceededError(f"the result would have more than {limits.max_members} "
                                 "members", limit="max_members")
    model = model._replace(n_disk=len(model.entries), n_total=len(model.entries))
    result = _zip.build(model, datas, truths)
    if len(result) > limits.max_result_size:
        raise LimitExceededError("the result would exceed max_result_size",
                                 limit="max_result_size")
    return result


def _central_of(model: _zip.Archive, index: int) -> int:
    for k, rec in enumerate(model.central):
        if rec.index == index:
            return k
    raise CorruptDeltaError("the base's directory lost a member")  # unreachable for parsed input


def _is_utf8(name: bytes) -> bool:
    try:
        name.decode("ascii")
    except UnicodeDecodeError:
        return True
    return False


def describe(delta: bytes, limits: Limits) -> DeltaInfo:
    """Describe an EdgeCourier 2017 patch archive (it names no base)."""
    archive, contents = _archive(delta, limits)
    members = []
    for entry, content in zip(archive.entries, contents):
        is_patch = content.startswith(b"@@ -")
        members.append(MemberInfo(name=entry.name.decode("utf-8", "replace"),
                                  operation="patch" if is_patch else "add",
                                  codec="dmp" if is_patch else "literal",
                                  encoded_size=len(content)))
    return DeltaInfo(version=2017, container="edgecourier-2017", base_sha256="",
                     result_sha256="", exact=False, size=len(delta), members=tuple(members))

