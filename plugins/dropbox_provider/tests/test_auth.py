"""``edgesync auth dropbox``: OAuth 2 with PKCE against the emulator, in-process and as a command."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from edgesync_dropbox import DropboxOptions, DropboxProvider
from edgesync_dropbox.auth import link_account

from edgesync import errors


def test_link_account_writes_a_private_token_file_that_the_provider_uses(emulator, tmp_path):
    session = emulator.session()
    shown: list[str] = []

    def ask(prompt: str) -> str:
        url = re.search(r"https://\S+", "\n".join(shown)).group(0)
        assert "code_challenge_method=S256" in url and "token_access_type=offline" in url
        return session.get(url).text.strip()  # what the person copies from the page

    data = link_account(emulator.app_key, tmp_path / "dropbox.json", session=session,
                        ask=ask, say=shown.append)
    token_file = tmp_path / "dropbox.json"
    assert json.loads(token_file.read_text()) == data and data["refresh_token"]
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"
    provider = DropboxProvider(DropboxOptions(app_key=emulator.app_key,
                                              token_file=str(token_file)),
                               session=emulator.session())
    assert provider.stat  # and it works:
    import io

    from edgesync.types import UploadInfo

    provider.put("hello.txt", io.BytesIO(b"hi"), UploadInfo(size=2))
    assert emulator.file("/hello.txt") == b"hi"


def test_a_wrong_code_is_an_auth_error_and_nothing_is_written(emulator, tmp_path):
    with pytest.raises(errors.AuthError, match="paste a fresh code"):
        link_account(emulator.app_key, tmp_path / "dropbox.json", session=emulator.session(),
                     ask=lambda prompt: "not-a-code", say=lambda text: None)
    assert not (tmp_path / "dropbox.json").exists()


def test_no_code_is_an_auth_error(emulator, tmp_path):
    with pytest.raises(errors.AuthError, match="no authorisation code"):
        link_account(emulator.app_key, tmp_path / "dropbox.json", session=emulator.session(),
                     ask=lambda prompt: "  ", say=lambda text: None)


def test_the_command_end_to_end(emulator, tmp_path):
    token_file = tmp_path / "edge" / "dropbox.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "edgesync", "auth", "dropbox", "--app-key", emulator.app_key,
         "--token-file", str(token_file), "--emulator", emulator.url],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=os.environ.copy())
    url = None
    while url is None:
        line = process.stderr.readline()
        assert line, process.stdout.read()
        match = re.search(r"https://www\.dropbox\.com/\S+", line)
        url = match.group(0) if match else None
    code = emulator.session().get(url).text.strip()
    out, err = process.communicate(code + "\n", timeout=60)
    assert process.returncode == 0, err
    assert "Linked Dropbox account" in out and 'name = "dropbox"' in out
    assert json.loads(token_file.read_text())["app_key"] == emulator.app_key


def test_auth_lists_the_plugins_commands():
    result = subprocess.run([sys.executable, "-m", "edgesync", "auth", "--help"],
                            capture_output=True, text=True, check=True)
    assert "dropbox" in result.stdout
    helped = subprocess.run([sys.executable, "-m", "edgesync", "auth", "dropbox", "--help"],
                            capture_output=True, text=True, check=True)
    assert "Example" in helped.stdout and "--app-key" in helped.stdout
