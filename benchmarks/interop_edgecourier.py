"""Check that edgesync applies the EdgeCourier 2017 prototype's own patch archives.

The paper's Table 2 cases (``f100K``, ``f1000K``) ship as a base document, the
document after a one-character edit, and the prototype's edit-patch. This
applies each patch with :func:`edgesync.delta.patch` and checks that every
member of the result has the contents of the edited document (EdgeCourier
re-zipped, so container bytes are not expected to match), then shows what
edgesync's own delta costs for the same save.

Usage::

    python benchmarks/interop_edgecourier.py ../shared/interop/edgecourier-2017

Exits 1 if any case fails.
"""

from __future__ import annotations

import argparse
import io
import sys
import zipfile
from pathlib import Path

from edgesync import delta
from edgesync.errors import DeltaError


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Example: python benchmarks/interop_edgecourier.py "
                                            "../shared/interop/edgecourier-2017")
    parser.add_argument("folder", type=Path, help="folder with NAME.docx, NAME-a1b-1.docx, "
                                                  "NAME.patch")
    args = parser.parse_args(argv)
    patches = sorted(args.folder.glob("*.patch"))
    if not patches:
        parser.error(f"no *.patch files in {args.folder}")
    failures = 0
    print(f"{'case':<8} {'patch':>7} {'members equal':>14} {'edgesync delta':>15} {'exact':>6}")
    for patch_file in patches:
        name = patch_file.stem
        base = (args.folder / f"{name}.docx").read_bytes()
        new = (args.folder / f"{name}-a1b-1.docx").read_bytes()
        archive = patch_file.read_bytes()
        try:
            rebuilt = delta.patch(base, archive)
            equal = members(rebuilt) == members(new)
        except DeltaError as exc:
            print(f"{name:<8} failed: {exc}")
            failures += 1
            continue
        ours = delta.diff(base, new, path=f"{name}.docx")
        info = delta.describe(ours)
        exact = delta.patch(base, ours) == new
        failures += not (equal and exact)
        print(f"{name:<8} {len(archive):>7,} {str(equal):>14} {len(ours):>15,} "
              f"{str(exact and info.exact):>6}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
