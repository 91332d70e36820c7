"""Fixtures for the OneDrive plugin's tests: one emulator per test module, reset per test.

- ``emulator``: a running :class:`edgesync_onedrive.testing.OneDriveEmulator`
  with an empty drive, no tokens or device codes, no fault rules, an empty
  journal and its switches as constructed (device codes auto-approved,
  strict). After the test it asserts the emulator raised nothing itself.
- ``msal_app``: a fresh ``msal.PublicClientApplication`` for the emulator's
  client id and the ``consumers`` authority, with its own
  ``SerializableTokenCache`` and the emulator's loopback session as its HTTP
  client. Fresh per test because MSAL remembers throttled and 400 token
  answers (for ``Retry-After`` or 60 s) per app.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

if importlib.util.find_spec("edgesync_onedrive") is None:  # not installed (yet): use the source
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import msal
from edgesync_onedrive.testing import OneDriveEmulator

AUTHORITY = "https://login.microsoftonline.com/consumers"


@pytest.fixture(scope="module")
def _running_emulator() -> Iterator[OneDriveEmulator]:
    with OneDriveEmulator() as emulator:
        yield emulator


@pytest.fixture
def emulator(_running_emulator: OneDriveEmulator) -> Iterator[OneDriveEmulator]:
    with _running_emulator.checked() as emulator:
        yield emulator


@pytest.fixture
def msal_app(emulator: OneDriveEmulator) -> msal.PublicClientApplication:
    return msal.PublicClientApplication(emulator.client_id, authority=AUTHORITY,
                                        token_cache=msal.SerializableTokenCache(),
                                        http_client=emulator.session())
