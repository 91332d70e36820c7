"""The installed distribution registers by entry point, and the allowlist controls it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from edgesync.plugins import PluginHost


def plugins_json(**env: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "edgesync", "plugins", "--json"],
                            capture_output=True, text=True, check=True,
                            env={**os.environ, **env})
    return json.loads(result.stdout)


def test_edgesync_plugins_lists_dropbox():
    data = plugins_json()
    assert data["plugins"]["dropbox"].startswith("edgesync-dropbox ")
    assert "dropbox" in data["providers"] and "dropbox" in data["hash_types"]


@pytest.mark.parametrize("allow, present", [("", False), ("edgesync-dropbox", True),
                                            ("dropbox", True), ("edgesync-other", False)])
def test_the_allowlist(allow, present):
    assert ("dropbox" in plugins_json(EDGESYNC_LOAD_PLUGINS=allow)["providers"]) is present


def test_the_options_are_validated_where_the_edge_reads_them(tmp_path):
    from edgesync.errors import ConfigError

    host = PluginHost(environ={"EDGESYNC_LOAD_PLUGINS": "edgesync-dropbox"}).load()
    with pytest.raises(ConfigError, match="app_key"):
        host.make_provider("dropbox", {"token_file": "x"})
    with pytest.raises(ConfigError, match="4 MiB"):
        host.make_provider("dropbox", {"app_key": "k", "token_file": "x", "chunk_size": 1000})
    with pytest.raises(ConfigError, match="edgesync auth dropbox"):
        host.make_provider("dropbox", {"app_key": "k", "token_file": str(tmp_path / "no")})


def test_the_dropbox_hasher_is_the_sdks_content_hash():
    from dropbox.content_hash import DropboxContentHasher
    from edgesync_dropbox.testing import content_hash

    hasher = PluginHost(environ={"EDGESYNC_LOAD_PLUGINS": "edgesync-dropbox"}).load() \
        .hash_types()["dropbox"].factory()
    data = b"x" * (4 * 1024 * 1024 + 1)  # just over one block
    hasher.update(data)
    reference = DropboxContentHasher()
    reference.update(data)
    assert hasher.hexdigest() == reference.hexdigest() == content_hash(data)
    empty = PluginHost(environ={"EDGESYNC_LOAD_PLUGINS": "dropbox"}).load() \
        .hash_types()["dropbox"].factory()
    assert empty.hexdigest() == content_hash(b"")
