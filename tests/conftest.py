"""Shared test configuration.

- The repository root goes on ``sys.path`` so that test modules can import their
  helpers as ``tests.delta.strategies`` (pytest runs with ``--import-mode=importlib``,
  which does not put test directories on the path).
- Hypothesis runs derandomized, without an example database and without
  deadlines, so a CI run is repeatable and independent of machine speed. Set
  ``EDGESYNC_HYPOTHESIS_PROFILE=explore`` to search with fresh random seeds.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "explore",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("EDGESYNC_HYPOTHESIS_PROFILE", "ci"))
