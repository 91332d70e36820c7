"""edgesync: low-bandwidth document sync through a per-user edge relay.

The public API so far:

- :mod:`edgesync.delta` -- ``diff``, ``patch`` and ``describe``: container-aware
  deltas for office documents (docx/xlsx/pptx/odt/ods/odp, EPUB, any ZIP) and
  any other file.
- :mod:`edgesync.errors` -- the one exception tree.
"""

__version__ = "0.1.0.dev0"

__all__ = ["__version__"]
