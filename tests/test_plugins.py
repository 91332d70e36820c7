"""The plugin host: loading policy, validation of what plugins register, lookups.

Entry-point plugins are real distributions made on the spot: a module and a
``.dist-info`` folder in a temporary directory put on ``sys.path``, found by
:mod:`importlib.metadata` exactly as an installed plugin is.
"""

from __future__ import annotations

import importlib
import re
import sys
import textwrap
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

from edgesync.errors import ConfigError, PluginError
from edgesync.plugins import PluginHost
from edgesync.providers.local import LocalProvider
from edgesync.types import HashSpec, ProviderSpec

MakePlugin = Callable[..., None]

#: A well-behaved plugin offering the provider "fake" and the hash type "fake-md5".
FAKE = """
import hashlib

import attrs

from edgesync.hookspecs import hookimpl
from edgesync.types import HashSpec, ProviderSpec


@attrs.frozen(kw_only=True)
class FakeOptions:
    bucket: str = attrs.field(metadata={"help": "the bucket"})


@hookimpl
def edgesync_providers():
    yield ProviderSpec(name="fake", factory=lambda options: options, options_type=FakeOptions)


@hookimpl
def edgesync_hash_types():
    yield HashSpec(name="fake-md5", factory=hashlib.md5)
"""


@pytest.fixture(autouse=True)
def hide_installed_plugins(monkeypatch):
    """Plugin distributions installed beside the core (the workspace's edgesync-dropbox)
    are hidden, so each test sees the built-ins and the distributions it makes."""
    from importlib import metadata

    real = metadata.entry_points
    installed = {entry.dist.metadata["Name"] for entry in real(group="edgesync") if entry.dist}

    def entry_points(**selection):
        return [entry for entry in real(**selection)
                if entry.dist is None or entry.dist.metadata["Name"] not in installed]

    monkeypatch.setattr(metadata, "entry_points", entry_points)


@pytest.fixture
def plugin_host() -> PluginHost:
    """A fresh host that ignores the EDGESYNC_* variables of the shell running the tests."""
    return PluginHost(environ={})


@pytest.fixture
def make_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakePlugin]:
    """Make a distribution with one ``edgesync`` entry point, importable for this test."""
    site = tmp_path / "site-packages"
    site.mkdir()
    modules: list[str] = []

    def make(distribution: str, entry: str, module: str, source: str) -> None:
        (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        info = site / f"{distribution.replace('-', '_')}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1\n", encoding="utf-8")
        (info / "entry_points.txt").write_text(f"[edgesync]\n{entry} = {module}\n",
                                               encoding="utf-8")
        modules.append(module)
        importlib.invalidate_caches()  # importlib.metadata caches directory listings

    monkeypatch.syspath_prepend(str(site))
    yield make
    for module in modules:
        sys.modules.pop(module, None)
    importlib.invalidate_caches()


def _module(name: str, source: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(textwrap.dedent(source), module.__dict__)
    return module


# --- built-ins ----------------------------------------------------------------------------


def test_builtins_are_registered_like_plugins(plugin_host: PluginHost) -> None:
    plugin_host.load()

    assert set(plugin_host.providers()) == {"local"}
    assert set(plugin_host.hash_types()) == {"sha256"}
    assert plugin_host.distributions == {"sha256": "edgesync (built-in)",
                                         "local": "edgesync (built-in)"}


def test_load_is_idempotent(plugin_host: PluginHost) -> None:
    assert plugin_host.load() is plugin_host.load()
    assert set(plugin_host.providers()) == {"local"}


def test_a_builtin_can_be_disabled() -> None:
    host = PluginHost(environ={"EDGESYNC_DISABLE_PLUGINS": "local"}).load()

    assert set(host.providers()) == set()
    assert set(host.hash_types()) == {"sha256"}


# --- entry points -------------------------------------------------------------------------


def test_an_entry_point_plugin_is_loaded(plugin_host: PluginHost,
                                         make_plugin: MakePlugin) -> None:
    make_plugin("edgesync-fake", "fake", "edgesync_fakeplugin", FAKE)
    plugin_host.load()

    assert plugin_host.distributions["fake"] == "edgesync-fake 0.1"
    assert set(plugin_host.providers()) == {"local", "fake"}
    assert plugin_host.hashers({"fake-md5"}).keys() == {"fake-md5", "sha256"}
    assert plugin_host.make_provider("fake", {"bucket": "b"}).bucket == "b"


@pytest.mark.parametrize("allow", ["fake", "edgesync-fake", "other, fake"])
def test_load_plugins_names_entries_or_distributions(make_plugin: MakePlugin,
                                                     allow: str) -> None:
    make_plugin("edgesync-fake", "fake", "edgesync_fakeplugin", FAKE)
    host = PluginHost(environ={"EDGESYNC_LOAD_PLUGINS": allow}).load()

    assert "fake" in host.providers()


@pytest.mark.parametrize("allow", ["", "other", "edgesync-other,dropbox"])
def test_load_plugins_skips_unlisted_plugins(make_plugin: MakePlugin, allow: str) -> None:
    make_plugin("edgesync-fake", "fake", "edgesync_fakeplugin", FAKE)
    host = PluginHost(environ={"EDGESYNC_LOAD_PLUGINS": allow}).load()

    assert set(host.providers()) == {"local"}  # built-ins always load
    assert "fake" not in host.distributions
    assert "edgesync_fakeplugin" not in sys.modules  # not even imported


def test_disable_plugins_blocks_a_plugin(make_plugin: MakePlugin) -> None:
    make_plugin("edgesync-fake", "fake", "edgesync_fakeplugin", FAKE)
    host = PluginHost(environ={"EDGESYNC_DISABLE_PLUGINS": "other, fake"}).load()

    assert set(host.providers()) == {"local"}
    assert "fake" not in host.distributions


def test_a_broken_plugin_is_skipped_with_a_warning(plugin_host: PluginHost,
                                                   make_plugin: MakePlugin) -> None:
    make_plugin("edgesync-broken", "broken", "edgesync_brokenplugin",
                "raise ImportError('No module named dropbox_sdk')")
    make_plugin("edgesync-fake", "fake", "edgesync_fakeplugin", FAKE)

    with pytest.warns(RuntimeWarning, match=r"'broken' from edgesync-broken 0\.1 failed to "
                                            r"load and was skipped: No module named dropbox"):
        plugin_host.load()

    assert "fake" in plugin_host.providers()  # the others still load
    with pytest.raises(PluginError, match=r"provider 'broken' is configured, but its plugin "
                                          r"failed to load: edgesync-broken 0\.1: ImportError: "
                                          r"No module named dropbox_sdk"):
        plugin_host.provider_spec("broken")


def test_two_distributions_with_one_plugin_name_are_refused(plugin_host: PluginHost,
                                                            make_plugin: MakePlugin) -> None:
    make_plugin("edgesync-fake", "fake", "edgesync_fakeplugin", FAKE)
    make_plugin("edgesync-fake-fork", "fake", "edgesync_fakefork", FAKE)

    with pytest.raises(PluginError, match="two plugins are named 'fake'") as raised:
        plugin_host.load()
    assert "edgesync-fake 0.1" in str(raised.value)
    assert "edgesync-fake-fork 0.1" in str(raised.value)


def test_a_misspelled_hook_fails_the_load(plugin_host: PluginHost,
                                          make_plugin: MakePlugin) -> None:
    make_plugin("edgesync-typo", "typo", "edgesync_typoplugin", """
        from edgesync.hookspecs import hookimpl

        @hookimpl
        def edgesync_provider():  # singular: no such hook
            return []
    """)

    with pytest.raises(PluginError, match=r"unknown hook.*edgesync_provider\b"):
        plugin_host.load()


# --- registration -------------------------------------------------------------------------


def test_a_duplicate_provider_name_names_both_plugins(plugin_host: PluginHost) -> None:
    plugin_host.load()
    plugin_host.register(_module("impostor", """
        from edgesync.hookspecs import hookimpl
        from edgesync.providers.local import LocalOptions, LocalProvider
        from edgesync.types import ProviderSpec

        @hookimpl
        def edgesync_providers():
            yield ProviderSpec(name="local", factory=LocalProvider, options_type=LocalOptions)
    """), name="impostor", distribution="edgesync-impostor 0.1")

    with pytest.raises(PluginError, match="ProviderSpec 'local' is registered twice") as raised:
        plugin_host.providers()
    assert "plugin 'local' (edgesync (built-in))" in str(raised.value)
    assert "plugin 'impostor' (edgesync-impostor 0.1)" in str(raised.value)


def test_two_plugins_under_one_name_are_refused(plugin_host: PluginHost) -> None:
    plugin_host.register(_module("first", ""), name="same", distribution="edgesync-a 1.0")

    with pytest.raises(PluginError, match=re.escape("two plugins are named 'same': one from "
                                                    "edgesync-a 1.0, one from edgesync-b 2.0")):
        plugin_host.register(_module("second", ""), name="same", distribution="edgesync-b 2.0")


def test_a_hook_yielding_the_wrong_record_is_refused(plugin_host: PluginHost) -> None:
    plugin_host.register(_module("confused", """
        import hashlib
        from edgesync.hookspecs import hookimpl
        from edgesync.types import HashSpec

        @hookimpl
        def edgesync_providers():
            yield HashSpec(name="md5", factory=hashlib.md5)
    """), name="confused", distribution="edgesync-confused 0.1")

    with pytest.raises(PluginError, match=r"plugin 'confused' \(edgesync-confused 0\.1\) "
                                          r"yielded HashSpec from edgesync_providers; "
                                          r"expected ProviderSpec"):
        plugin_host.providers()


def test_a_hook_that_raises_is_a_plugin_error(plugin_host: PluginHost) -> None:
    plugin_host.register(_module("crashing", """
        from edgesync.hookspecs import hookimpl

        @hookimpl
        def edgesync_hash_types():
            raise RuntimeError("boom")
    """), name="crashing", distribution="edgesync-crashing 0.1")

    with pytest.raises(PluginError, match=r"'crashing'.*failed in edgesync_hash_types: boom"):
        plugin_host.hash_types()


@pytest.mark.parametrize("name", ["Bad_Name", "1password", "", "-x", "ünï", "a b"])
@pytest.mark.parametrize("record", [
    lambda name: ProviderSpec(name=name, factory=LocalProvider, options_type=object),
    lambda name: HashSpec(name=name, factory=object),
], ids=["ProviderSpec", "HashSpec"])
def test_invalid_record_names_fail_where_they_are_built(record, name: str) -> None:
    with pytest.raises(ValueError, match=r"name must match \[a-z\]\[a-z0-9-\]\*"):
        record(name)


# --- lookups ------------------------------------------------------------------------------


def test_make_provider_builds_the_local_provider(plugin_host: PluginHost,
                                                 tmp_path: Path) -> None:
    provider = plugin_host.load().make_provider("local", {"root": str(tmp_path),
                                                          "fsync": False})

    assert isinstance(provider, LocalProvider)
    assert provider.root == tmp_path.resolve()


def test_an_unknown_option_lists_the_valid_ones(plugin_host: PluginHost,
                                                tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"provider 'local' has no option\(s\) colour, rooot "
                                          r"\(its options: root, fsync\)"):
        plugin_host.load().make_provider("local", {"rooot": str(tmp_path), "colour": "red"})


def test_a_missing_option_is_a_config_error(plugin_host: PluginHost) -> None:
    with pytest.raises(ConfigError, match=r"provider 'local': bad options: .*'root'"):
        plugin_host.load().make_provider("local", {})


def test_an_unknown_provider_lists_the_installed_ones(plugin_host: PluginHost) -> None:
    with pytest.raises(PluginError, match=r"no provider named 'dropbox' is installed "
                                          r"\(installed: local\); install its plugin"):
        plugin_host.load().provider_spec("dropbox")


def test_an_unknown_hash_type_is_a_plugin_error(plugin_host: PluginHost) -> None:
    with pytest.raises(PluginError, match=r"no plugin registers the hash type\(s\) dropbox"):
        plugin_host.load().hashers({"dropbox"})


def test_local_options_are_documented() -> None:
    # make_provider reads the options from attrs fields and their help texts.
    spec = PluginHost(environ={}).load().provider_spec("local")
    assert all(field.metadata.get("help") for field in attrs.fields(spec.options_type))


def test_load_only_some_plugins_does_not_import_the_others(make_plugin: MakePlugin) -> None:
    """The edge loads only its configured provider's plugin."""
    make_plugin("edgesync-fake", "fake", "edgesync_fakeplugin", FAKE)
    host = PluginHost(environ={}).load(only={"dropbox"})
    assert "fake" not in host.distributions and "local" in host.providers()
    assert "edgesync_fakeplugin" not in sys.modules
    assert "fake" in PluginHost(environ={}).load(only={"fake"}).providers()
