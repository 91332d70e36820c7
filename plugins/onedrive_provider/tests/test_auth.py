"""``edgesync auth onedrive``: MSAL's device-code sign-in against the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from edgesync_onedrive.auth import sign_in

from edgesync import errors


def test_sign_in_writes_a_private_cache_that_the_provider_uses(emulator, tmp_path):
    shown: list[str] = []
    data = sign_in(emulator.client_id, tmp_path / "onedrive.json", session=emulator.session(),
                   say=shown.append)
    assert "enter the code" in shown[0].lower() or "code" in shown[0].lower()
    cache = tmp_path / "onedrive.json"
    assert data["username"] == emulator.username and data["token_cache"] == str(cache)
    assert oct(cache.stat().st_mode & 0o777) == "0o600"
    assert json.loads(cache.read_text())["RefreshToken"]  # MSAL's own cache format


def test_a_declined_sign_in_writes_nothing(emulator, tmp_path):
    emulator.auto_approve = False
    issued: list[str] = []

    def say(message: str) -> None:
        issued.append(message)
        emulator.decline_device_code()

    with pytest.raises(errors.AuthError, match="did not complete"):
        sign_in(emulator.client_id, tmp_path / "c.json", session=emulator.session(), say=say)
    assert issued and not (tmp_path / "c.json").exists()


def test_the_command_end_to_end(emulator, tmp_path):
    cache = tmp_path / "edge" / "onedrive.json"
    result = subprocess.run(
        [sys.executable, "-m", "edgesync", "auth", "onedrive", "--client-id",
         emulator.client_id, "--token-cache", str(cache), "--emulator", emulator.url],
        capture_output=True, text=True, timeout=60, env=os.environ.copy())
    assert result.returncode == 0, result.stderr
    assert "code" in result.stderr.lower()  # Microsoft's instructions, on stderr
    assert "Signed in as" in result.stdout and 'name = "onedrive"' in result.stdout
    assert cache.is_file()


def test_auth_help_shows_an_example():
    helped = subprocess.run([sys.executable, "-m", "edgesync", "auth", "onedrive", "--help"],
                            capture_output=True, text=True, check=True)
    assert "Example" in helped.stdout and "--client-id" in helped.stdout
