"""What edgesync ships for other people's tests.

- :mod:`edgesync.testing.provider` -- :class:`ProviderConformance`, the
  conformance suite every provider plugin subclasses (needs pytest).
- :mod:`edgesync.testing.fakes` -- :class:`FaultyProvider`, a provider wrapper
  that records calls and raises injected errors.
- :mod:`edgesync.testing.emulation` -- what a plugin's emulator of its cloud
  service is built from: the loopback HTTP server, the ``requests`` adapter
  that reaches it, and fault-injection rules.
- :mod:`edgesync.testing.edge` -- :func:`~edgesync.testing.edge.running_edge`,
  a real edge on loopback for end-to-end tests.
- :mod:`edgesync.testing.waiting` -- :func:`~edgesync.testing.waiting.eventually`,
  for waiting on background work by its effect rather than by sleeping.
- :mod:`edgesync.testing.documents` -- realistic office documents and edits,
  generated on the spot (needs ``edgesync[test]``).

``ProviderConformance`` and ``FaultyProvider`` are importable from here; they
load on first use, so ``import edgesync.testing`` imports neither pytest nor
the providers.
"""

from __future__ import annotations

# Private aliases: the public namespace is exactly __all__.
import importlib as _importlib
import sys as _sys
import typing as _typing

if _typing.TYPE_CHECKING:
    from edgesync.testing.fakes import FaultyProvider
    from edgesync.testing.provider import ProviderConformance

__all__ = ["FaultyProvider", "ProviderConformance"]

_LAZY = {
    "FaultyProvider": "edgesync.testing.fakes",
    "ProviderConformance": "edgesync.testing.provider",
}
_SUITE = "edgesync.testing.provider"


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = _LAZY[name]
    pytest = _sys.modules.get("pytest")
    if module == _SUITE and pytest is not None and _SUITE not in _sys.modules:
        # The suite's plain asserts only explain a failure once pytest has
        # rewritten them, and pytest rewrites only test modules unless told.
        pytest.register_assert_rewrite(_SUITE)
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
