"""edgesync: low-bandwidth document sync through a per-user edge relay.

The public API, by module (importing ``edgesync`` itself loads none of them):

- :mod:`edgesync.delta` -- ``diff``, ``patch`` and ``describe``: container-aware
  deltas for office documents (docx/xlsx/pptx/odt/ods/odp, EPUB, any ZIP) and
  any other file.
- :mod:`edgesync.errors` -- the one exception tree.
- :mod:`edgesync.edge` -- the per-user edge service (``EdgeServer``,
  ``EdgeService``, ``EdgeConfig``); its HTTP API is ``docs/edge-api.md``.
- :mod:`edgesync.providers` -- the provider contract and the ``local`` provider;
  :mod:`edgesync.hookspecs` and :mod:`edgesync.plugins` -- how plugins add more;
  :mod:`edgesync.types` -- the records they exchange; :mod:`edgesync.paths` --
  remote path rules.
- :mod:`edgesync.tls` -- the edge's certificate and fingerprint pinning.
- :mod:`edgesync.testing` -- the provider conformance suite and fakes.
"""

__version__ = "0.1.0.dev0"

__all__ = ["__version__"]
