"""Shared test configuration.

- The repository root goes on ``sys.path`` so that test modules can import their
  helpers as ``tests.delta.strategies`` (pytest runs with ``--import-mode=importlib``,
  which does not put test directories on the path).
- ``tls_files``: one certificate and key per test session, for the edges that
  the edge and agent tests start.
- Hypothesis runs derandomized, without an example database and without
  deadlines, so a CI run is repeatable and independent of machine speed. Set
  ``EDGESYNC_HYPOTHESIS_PROFILE=explore`` to search with fresh random seeds.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
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


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A certificate and its key, made once per session: ``(cert.pem, key.pem)``."""
    from edgesync.tls import create_certificate

    folder = tmp_path_factory.mktemp("tls")
    create_certificate(folder / "cert.pem", folder / "key.pem")
    return folder / "cert.pem", folder / "key.pem"
