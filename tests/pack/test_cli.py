"""``edgesync-pack``: targets come from plugins; the shared options parse alike."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from edgesync.errors import PluginError
from edgesync.hookspecs import hookimpl
from edgesync.pack.cli import main, pip_args
from edgesync.plugins import PluginHost
from edgesync.types import PackTarget


def test_help_lists_the_installed_targets():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    section = result.output.split("Targets (installed):")[1]
    assert "rumprun" in section and "docker" in section
    assert "unknown" not in section


def test_the_console_script_is_installed():
    script = Path(sys.executable).with_name("edgesync-pack")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "Targets (installed)" in done.stdout


def test_an_unknown_target_is_a_usage_error():
    result = CliRunner().invoke(main, ["nosuch"])
    assert result.exit_code == 2 and "No such command 'nosuch'" in result.output


class _ThirdParty:
    @staticmethod
    @hookimpl
    def edgesync_pack_targets():
        @click.command("tarball")
        def tarball() -> None:
            """Write a tarball."""

        yield PackTarget(name="tarball", command=lambda: tarball, summary="a tarball")


def test_a_third_party_target_registers_through_the_hook():
    host = PluginHost(environ={"EDGESYNC_LOAD_PLUGINS": ""}).load()
    host.register(_ThirdParty(), name="tarball", distribution="edgesync-tarball 1.0")
    targets = host.pack_targets()
    assert targets["tarball"].summary == "a tarball"
    assert targets["tarball"].command().name == "tarball"
    host.register(_ThirdParty(), name="tarball-again", distribution="other 2.0")
    with pytest.raises(PluginError, match="registered twice.*edgesync-tarball 1.0.*other 2.0"):
        host.pack_targets()


def test_a_target_name_is_checked_where_the_record_is_made():
    with pytest.raises(ValueError, match=r"must match \[a-z\]"):
        PackTarget(name="Bad Name", command=lambda: None)


def test_pip_arguments():
    assert pip_args(("a", "b"), True) == ["--no-index", "--find-links", "a", "--find-links", "b"]
    assert pip_args((), False) == []
