"""Registration by entry point, options, and an edge that runs without ``cryptography``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from edgesync.errors import ConfigError
from edgesync.plugins import PluginHost


def plugins_json(**env: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "edgesync", "plugins", "--json"],
                            capture_output=True, text=True, check=True,
                            env={**os.environ, **env})
    return json.loads(result.stdout)


def test_edgesync_plugins_lists_onedrive():
    data = plugins_json()
    assert data["plugins"]["onedrive"].startswith("edgesync-onedrive ")
    assert "onedrive" in data["providers"] and "quickxor" in data["hash_types"]


@pytest.mark.parametrize("allow, present", [("", False), ("edgesync-onedrive", True),
                                            ("onedrive", True), ("edgesync-dropbox", False)])
def test_the_allowlist(allow, present):
    assert ("onedrive" in plugins_json(EDGESYNC_LOAD_PLUGINS=allow)["providers"]) is present


def test_options_are_validated(tmp_path):
    host = PluginHost(environ={"EDGESYNC_LOAD_PLUGINS": "edgesync-onedrive"}).load()
    with pytest.raises(ConfigError, match="client_id"):
        host.make_provider("onedrive", {"token_cache": "x"})
    with pytest.raises(ConfigError, match="320 KiB"):
        host.make_provider("onedrive", {"client_id": "c", "token_cache": "x",
                                        "fragment_size": 1000})
    with pytest.raises(ConfigError, match="edgesync auth onedrive"):
        host.make_provider("onedrive", {"client_id": "c",
                                        "token_cache": str(tmp_path / "none.json")})


def test_the_edge_works_where_cryptography_cannot_be_imported(emulator, tmp_path):
    """A vendored unikernel tree has no compiled packages: sign-in refresh and uploads
    must not need ``cryptography``. A child process blocks its import and uploads."""
    from edgesync_onedrive.auth import sign_in

    cache = tmp_path / "onedrive.json"
    sign_in(emulator.client_id, cache, session=emulator.session(), say=lambda text: None)
    emulator.expire_access_tokens()  # the child must refresh through MSAL
    script = textwrap.dedent(f"""
        import io, sys
        sys.modules["cryptography"] = None  # import cryptography -> ImportError
        from edgesync.plugins import PluginHost
        from edgesync.types import UploadInfo
        host = PluginHost(environ={{"EDGESYNC_LOAD_PLUGINS": "edgesync-onedrive"}}).load()
        provider = host.make_provider("onedrive", {{
            "client_id": {emulator.client_id!r}, "token_cache": {str(cache)!r},
            "emulator": {emulator.url!r}}})
        entry = provider.put("from-the-child.txt", io.BytesIO(b"no cryptography"),
                             UploadInfo(size=15))
        loaded = sorted(name for name in sys.modules if name.startswith("cryptography")
                        and sys.modules[name] is not None)
        print(entry.size, loaded)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "15 []"
    assert emulator.file("from-the-child.txt") == b"no cryptography"
