"""Remote paths: the one place where a path from outside is checked and normalised.

A remote path is relative, ``/``-separated, with no leading or trailing slash,
NFC-normalised (rclone's convention). Providers receive only paths that went
through :func:`normalize_path`; the edge calls it on every path a device sends,
before anything is read or written.
"""

from __future__ import annotations

import re
import unicodedata

from edgesync.errors import InvalidPathError

__all__ = ["MAX_NAME_BYTES", "MAX_PATH_CHARS", "normalize_path"]

#: Longest path component, in UTF-8 bytes (the limit of most file systems).
MAX_NAME_BYTES = 255
#: Longest whole path, in characters.
MAX_PATH_CHARS = 1024

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# Names Windows reserves whatever the extension: a file called "aux.docx"
# cannot be synced to a Windows device, so refuse it everywhere.
_DEVICE = re.compile(r"(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?\Z", re.IGNORECASE)


def normalize_path(path: str) -> str:
    """Check ``path`` and return its normal form.

    :param path: a relative path such as ``"Reports/2026/q3.docx"``.
    :returns: the NFC-normalised path.
    :raises InvalidPathError: with a message saying which rule the path broke:
        not text; empty; absolute (``/x``, ``C:x``); a backslash; an empty,
        ``.`` or ``..`` component; NUL or another control character; a lone
        surrogate (not valid Unicode); a component
        ending in a space or a dot; a Windows device name (``CON``, ``aux.txt``);
        a component over :data:`MAX_NAME_BYTES` bytes or a path over
        :data:`MAX_PATH_CHARS` characters.

    >>> normalize_path("Reports/Q3.docx")
    'Reports/Q3.docx'
    """
    if not isinstance(path, str):
        raise InvalidPathError(f"the path must be text, not {type(path).__name__}", path="")
    if not path:
        raise InvalidPathError("the path is empty", path="")
    shown = repr(path) if len(path) <= 200 else repr(path[:200]) + "..."
    if _CONTROL.search(path):
        raise InvalidPathError(f"path {shown} contains a NUL or control character",
                               path=path)
    # A lone surrogate (JSON can carry one, as "\ud800") has no UTF-8 form,
    # so no file system or service can store it.
    if _SURROGATE.search(path):
        raise InvalidPathError(f"path {shown} is not valid Unicode: it contains a lone "
                               "surrogate", path=path)
    path = unicodedata.normalize("NFC", path)
    if len(path) > MAX_PATH_CHARS:
        raise InvalidPathError(
            f"path is {len(path)} characters long; at most {MAX_PATH_CHARS} are allowed",
            path=path[:MAX_PATH_CHARS])
    if "\\" in path:
        raise InvalidPathError(f"path {shown} contains a backslash; use '/' between folders",
                               path=path)
    if path.startswith("/") or re.match(r"[A-Za-z]:", path):
        raise InvalidPathError(f"path {shown} is absolute; give it relative to the sync root",
                               path=path)
    for part in path.split("/"):
        if part in ("", ".", ".."):
            what = "an empty" if not part else f"a {part!r}"
            raise InvalidPathError(f"path {shown} has {what} component", path=path)
        if part[-1] in " .":
            raise InvalidPathError(
                f"path {shown}: the name {part!r} ends in a space or a dot, "
                "which Windows and OneDrive cannot store", path=path)
        if _DEVICE.match(part):
            raise InvalidPathError(
                f"path {shown}: {part!r} is a reserved device name on Windows", path=path)
        if len(part.encode("utf-8")) > MAX_NAME_BYTES:
            raise InvalidPathError(
                f"path {shown}: a name is {len(part.encode())} bytes long in UTF-8; "
                f"at most {MAX_NAME_BYTES} are allowed", path=path)
    return path
