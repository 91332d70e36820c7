"""The shipped conformance suite, against the plugin talking to the emulator over loopback."""

from __future__ import annotations

import json

import pytest
from edgesync_dropbox import DropboxOptions, DropboxProvider

from edgesync.testing import ProviderConformance

MiB = 1 << 20


def make_provider(emulator, tmp_path, **options):
    token_file = tmp_path / "dropbox.json"
    token_file.write_text(json.dumps({"app_key": emulator.app_key,
                                      "refresh_token": emulator.link_account()}))
    values = {"app_key": emulator.app_key, "token_file": str(token_file),
              "upload_threshold": 4 * MiB, "chunk_size": 4 * MiB, **options}
    return DropboxProvider(DropboxOptions(**values), session=emulator.session())


class TestDropboxConformance(ProviderConformance):
    """Every contract rule, through the real SDK, the plugin and the emulator."""

    @pytest.fixture
    def provider(self, emulator, tmp_path):
        return make_provider(emulator, tmp_path)


class TestDropboxConformanceUnderARoot(ProviderConformance):
    """The same with ``root`` set: every path lives below a Dropbox folder."""

    @pytest.fixture
    def provider(self, emulator, tmp_path):
        return make_provider(emulator, tmp_path, root="/Apps/edgesync/")
