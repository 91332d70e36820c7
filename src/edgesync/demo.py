"""``make demo``: a short editing session, and what each save costs on the wire.

Generates a Word document, a spreadsheet, a slide deck, an OpenDocument text
and a plain-text file, applies a few realistic edits to each (each edit saved
by the library that wrote the file, so the whole container is rewritten, as
an office program does), and for every save prints the file's size, the
delta edgesync would send, the saving, and whether the edge rebuilds the very
same bytes. Exits non-zero if any save fails to round-trip.

Run it as ``python -m edgesync.demo`` (needs ``edgesync[test]`` for the
document libraries).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Callable

from edgesync import delta
from edgesync.testing import documents as docs

_SESSION: list[tuple[str, Callable[[], bytes], Callable[[bytes, str], bytes], tuple[str, ...]]] = [
    ("report.docx", lambda: docs.make_docx(120, images=2), docs.edit_docx,
     ("type", "type", "paragraph", "delete", "image")),
    ("orders.xlsx", lambda: docs.make_xlsx(3000), docs.edit_xlsx, ("cell", "row", "scattered")),
    ("pitch.pptx", lambda: docs.make_pptx(12), docs.edit_pptx, ("type", "bullet", "slide")),
    ("notes.odt", lambda: docs.make_odt(80), docs.edit_odt, ("type", "paragraph", "delete")),
    ("todo.txt", lambda: docs.make_text(2000), docs.edit_text,
     ("type", "paragraph", "delete", "scattered")),
]


def main(argv: list[str] | None = None) -> int:
    """Run the session; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m edgesync.demo",
        description="Replay an editing session and print the bytes each save sends.",
        epilog="Example: python -m edgesync.demo",
    )
    parser.parse_args(argv)
    print(f"{'save':<32} {'file':>10} {'delta':>9} {'saved':>7}  {'exact':<5} {'diff':>7} {'patch':>7}")
    failures = 0
    total_file = total_delta = 0
    for name, make, edit, edits in _SESSION:
        current = make()
        for step, kind in enumerate(edits, 1):
            new = edit(current, kind, seed=step)
            t0 = time.perf_counter()
            d = delta.diff(current, new, path=name)
            t1 = time.perf_counter()
            rebuilt = delta.patch(current, d)
            t2 = time.perf_counter()
            info = delta.describe(d)
            ok = rebuilt == new if info.exact else info.result_sha256 == _sha256(rebuilt)
            failures += not ok
            total_file += len(new)
            total_delta += len(d)
            label = f"{name} #{step} ({kind})"
            print(f"{label:<32} {len(new):>10,} {len(d):>9,} {1 - len(d) / len(new):>7.1%}  "
                  f"{'yes' if info.exact else 'canon':<5} {1000 * (t1 - t0):>5.0f}ms "
                  f"{1000 * (t2 - t1):>5.0f}ms{'' if ok else '  ROUND TRIP FAILED'}")
            current = new
    print(f"\n{'all saves':<32} {total_file:>10,} {total_delta:>9,} "
          f"{1 - total_delta / total_file:>7.1%}")
    if failures:
        print(f"{failures} save(s) did not round-trip", file=sys.stderr)
        return 1
    print("every save was rebuilt and verified by its SHA-256")
    return 0


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


if __name__ == "__main__":
    sys.exit(main())
