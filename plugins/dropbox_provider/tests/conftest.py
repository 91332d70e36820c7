"""Fixtures for the Dropbox plugin's tests: one emulator per test module, reset per test.

- ``emulator``: a running :class:`edgesync_dropbox.testing.DropboxEmulator`
  with an empty store, no tokens, no fault rules and an empty journal. After
  the test it asserts the emulator raised nothing itself.
- ``dbx``: the real SDK client, linked to the emulator through its loopback
  session; no retries on 5xx, one on 429.
- ``sleeps``: the SDK client's retry sleeps (``dropbox.dropbox_client``),
  recorded instead of slept.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

if importlib.util.find_spec("edgesync_dropbox") is None:  # not installed (yet): use the source
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import dropbox
import dropbox.dropbox_client
from edgesync_dropbox.testing import DropboxEmulator


@pytest.fixture(scope="module")
def _running_emulator() -> Iterator[DropboxEmulator]:
    with DropboxEmulator() as emulator:
        yield emulator


@pytest.fixture
def emulator(_running_emulator: DropboxEmulator) -> Iterator[DropboxEmulator]:
    with _running_emulator.checked() as emulator:
        yield emulator


@pytest.fixture
def dbx(emulator: DropboxEmulator) -> Iterator[dropbox.Dropbox]:
    client = dropbox.Dropbox(oauth2_refresh_token=emulator.link_account(),
                             app_key=emulator.app_key, session=emulator.session(),
                             max_retries_on_error=0, max_retries_on_rate_limit=1)
    with client:
        yield client


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    # The SDK's module-level ``time`` is swapped, not ``time.sleep`` itself, so
    # the emulator's own threads (an injected delay) still really sleep.
    slept: list[float] = []
    monkeypatch.setattr(dropbox.dropbox_client, "time", SimpleNamespace(sleep=slept.append))
    return slept
