"""The plugin host: loads plugins, validates what they register, looks it up.

Loading policy (:meth:`PluginHost.load`):

1. Built-in plugins (``local``, ``sha256``) are registered by module path,
   exactly as external ones are.
2. Entry points of the group ``edgesync`` are loaded, unless
   ``EDGESYNC_LOAD_PLUGINS`` is set: then only the distributions (or entry
   names) it lists, comma-separated, load; set and empty, none do.
3. Names in ``EDGESYNC_DISABLE_PLUGINS`` (comma-separated entry names) are
   blocked.
4. ``check_pending()`` runs, so a misspelled hook function is an error.
5. A plugin that fails to import is skipped with a warning and remembered:
   asking for a provider it would have offered raises :class:`PluginError`
   naming the plugin, its distribution and the cause. A server that is
   configured with such a provider therefore fails at startup.
6. ``EDGESYNC_TRACE_PLUGINS=1`` prints every hook call to stderr.

Each host is independent (tests make a fresh one); nothing is loaded at
import time.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any

import attrs
import pluggy

from edgesync import hookspecs
from edgesync.errors import ConfigError, PluginError
from edgesync.types import HashSpec, PackTarget, ProviderSpec

__all__ = ["BUILTIN_PLUGINS", "ENTRY_POINT_GROUP", "PluginHost"]

#: The entry-point group plugins register under.
ENTRY_POINT_GROUP = "edgesync"

#: Built-in plugin modules, registered like external ones (name -> module).
BUILTIN_PLUGINS: Mapping[str, str] = {
    "sha256": "edgesync.hashing",
    "local": "edgesync.providers.local",
}

_BUILTIN = "edgesync (built-in)"


def _split_env(value: str | None) -> set[str] | None:
    if value is None:
        return None
    return {item.strip() for item in value.split(",") if item.strip()}


class PluginHost:
    """A typed facade over one :class:`pluggy.PluginManager`.

    :param environ: where the ``EDGESYNC_*`` variables are read (default
        :data:`os.environ`).

    Typical use::

        host = PluginHost()
        host.load()
        provider = host.make_provider("local", {"root": "/srv/cloud"})
    """

    def __init__(self, *, environ: Mapping[str, str] | None = None) -> None:
        self._env = os.environ if environ is None else environ
        self.manager = pluggy.PluginManager("edgesync")
        self.manager.add_hookspecs(hookspecs.EdgesyncSpecs)
        #: plugin name -> distribution label ("edgesync-dropbox 0.1.0")
        self.distributions: dict[str, str] = {}
        #: plugin name -> the project name of its distribution (installed plugins only)
        self.dist_names: dict[str, str] = {}
        #: plugin name -> why it failed to load (for plugins that were skipped)
        self.failures: dict[str, str] = {}
        self._owners: dict[tuple[str, str], str] = {}
        self._loaded = False

    # --- loading -------------------------------------------------------------

    def load(self, *, only: set[str] | None = None) -> PluginHost:
        """Register built-ins and installed plugins per the loading policy.

        :param only: import only the installed plugins with these entry names
            (the edge passes its configured provider: the others are not even
            imported, which saves memory and keeps a broken unrelated plugin
            from mattering); ``None``: every plugin the policy allows.
        :returns: ``self``, for chaining.
        :raises PluginError: a plugin implements a hook that does not exist.
        """
        if self._loaded:
            return self
        self._loaded = True
        blocked = _split_env(self._env.get("EDGESYNC_DISABLE_PLUGINS")) or set()
        for name in blocked:
            self.manager.set_blocked(name)
        for name, module in BUILTIN_PLUGINS.items():
            if name not in blocked:
                self.register(importlib.import_module(module), name=name, distribution=_BUILTIN)
        self._load_entry_points(blocked, only)
        try:
            self.manager.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"a plugin implements an unknown hook: {exc}") from exc
        if self._env.get("EDGESYNC_TRACE_PLUGINS"):
            self.manager.trace.root.setwriter(lambda text: sys.stderr.write(text))
            self.manager.enable_tracing()
        return self

    def _load_entry_points(self, blocked: set[str], only: set[str] | None) -> None:
        allow = _split_env(self._env.get("EDGESYNC_LOAD_PLUGINS"))
        for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = entry.dist
            dist_name = dist.metadata["Name"] if dist is not None else "?"
            label = f"{dist_name} {dist.version}" if dist is not None else "an unknown distribution"
            if only is not None and entry.name not in only:
                continue
            if allow is not None and entry.name not in allow and dist_name not in allow:
                continue
            if entry.name in blocked:
                continue
            try:
                plugin = entry.load()
            except Exception as exc:  # a broken third-party plugin must not stop the others
                self.failures[entry.name] = f"{label}: {type(exc).__name__}: {exc}"
                warnings.warn(f"edgesync plugin {entry.name!r} from {label} failed to load "
                              f"and was skipped: {exc}", RuntimeWarning, stacklevel=2)
                continue
            self.register(plugin, name=entry.name, distribution=label)
            if dist is not None:
                self.dist_names[entry.name] = dist_name

    def register(self, plugin: object, *, name: str, distribution: str = "") -> None:
        """Register one plugin object (a module, usually) under ``name``.

        :param plugin: an object with ``@hookimpl`` functions.
        :param name: the plugin's name (its entry-point name).
        :param distribution: who shipped it, for error messages.
        :raises PluginError: a plugin of that name is already registered, or the
            plugin's hooks do not match their specifications.
        """
        if name in self.distributions:
            raise PluginError(
                f"two plugins are named {name!r}: one from {self.distributions[name]}, "
                f"one from {distribution or 'an unnamed source'}; uninstall one, or "
                "list the one you want in EDGESYNC_LOAD_PLUGINS")
        try:
            self.manager.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            raise PluginError(f"plugin {name!r} from {distribution}: {exc}") from exc
        self.distributions[name] = distribution or "an unnamed source"

    # --- lookups -------------------------------------------------------------

    def _records(self, hook_name: str, kind: type) -> dict[str, Any]:
        hook = getattr(self.manager.hook, hook_name)
        found: dict[str, Any] = {}
        owner: dict[str, str] = {}
        for impl in hook.get_hookimpls():
            plugin = impl.plugin_name
            where = f"plugin {plugin!r} ({self.distributions.get(plugin, '?')})"
            try:
                records = list(impl.function() or ())
            except Exception as exc:
                raise PluginError(f"{where} failed in {hook_name}: {exc}") from exc
            for record in records:
                if not isinstance(record, kind):
                    raise PluginError(f"{where} yielded {type(record).__name__} from "
                                      f"{hook_name}; expected {kind.__name__}")
                if record.name in found:
                    raise PluginError(
                        f"{kind.__name__} {record.name!r} is registered twice: by "
                        f"{owner[record.name]} and by {where}; uninstall one, or disable "
                        "one with EDGESYNC_DISABLE_PLUGINS")
                found[record.name] = record
                owner[record.name] = where
                self._owners[hook_name, record.name] = plugin
        return found

    def providers(self) -> Mapping[str, ProviderSpec]:
        """Every registered provider, by name.

        :raises PluginError: a name is registered twice, or a plugin yielded
            something other than a :class:`~edgesync.types.ProviderSpec`.
        """
        return self._records("edgesync_providers", ProviderSpec)

    def pack_targets(self) -> Mapping[str, PackTarget]:
        """Every registered ``edgesync-pack`` target, by name.

        :raises PluginError: a name is registered twice, or a plugin yielded
            something other than a :class:`~edgesync.types.PackTarget`.
        """
        return self._records("edgesync_pack_targets", PackTarget)

    def provider_plugin(self, name: str) -> str:
        """The registered name of the plugin that offers the provider ``name``.

        :raises PluginError: no such provider (see :meth:`provider_spec`).
        """
        self.provider_spec(name)
        return self._owners["edgesync_providers", name]

    def provider_distribution(self, name: str) -> str | None:
        """The distribution that offers the provider ``name``, or None when built in.

        :raises PluginError: no such provider (see :meth:`provider_spec`).
        """
        return self.dist_names.get(self.provider_plugin(name))

    def hash_types(self) -> Mapping[str, HashSpec]:
        """Every registered content-hash type, by name.

        :raises PluginError: a name is registered twice, or a plugin yielded
            something other than a :class:`~edgesync.types.HashSpec`.
        """
        return self._records("edgesync_hash_types", HashSpec)

    def auth_commands(self) -> dict[str, object]:
        """The sign-in commands plugins offer (``edgesync auth NAME``), by name.

        :raises PluginError: two plugins offer a command of the same name.
        """
        commands: dict[str, object] = {}
        for impl in self.manager.hook.edgesync_auth_commands.get_hookimpls():
            for command in impl.function() or ():
                name = getattr(command, "name", None)
                if name in commands:
                    raise PluginError(f"two plugins offer 'edgesync auth {name}' (one is "
                                      f"{impl.plugin_name!r}); uninstall one")
                commands[str(name)] = command
        return commands

    def hashers(self, names: set[str] | frozenset[str]) -> dict[str, Callable[[], Any]]:
        """Hasher factories for ``names`` (``sha256`` is always included).

        :raises PluginError: a hash type no installed plugin registers.
        """
        specs = self.hash_types()
        missing = sorted(set(names) - set(specs))
        if missing:
            raise PluginError(f"no plugin registers the hash type(s) {', '.join(missing)}")
        return {name: specs[name].factory for name in sorted({"sha256", *names})}

    def provider_spec(self, name: str) -> ProviderSpec:
        """The provider registered as ``name``.

        :raises PluginError: no such provider; the message says whether a plugin
            of that name failed to load (and why) and lists the known ones.
        """
        specs = self.providers()
        if name in specs:
            return specs[name]
        if name in self.failures:
            raise PluginError(f"the provider {name!r} is configured, but its plugin failed "
                              f"to load: {self.failures[name]}")
        known = ", ".join(sorted(specs)) or "none"
        raise PluginError(f"no provider named {name!r} is installed (installed: {known}); "
                          f"install its plugin, e.g. 'pip install edgesync-{name}'")

    def make_provider(self, name: str, options: Mapping[str, Any]):
        """Build the provider ``name`` from a configuration table.

        :param name: the provider's registered name.
        :param options: the ``[provider.options]`` table; keys are the fields of
            the spec's ``options_type``.
        :returns: a ready :class:`~edgesync.providers.Provider`.
        :raises PluginError: no such provider (see :meth:`provider_spec`).
        :raises ConfigError: an unknown or missing option, or a value the
            options type refuses; the message lists the valid options.
        """
        spec = self.provider_spec(name)
        return spec.factory(self.check_options(name, options))

    def check_options(self, name: str, options: Mapping[str, Any]) -> Any:
        """Check a ``[provider.options]`` table without building the provider.

        :returns: the instance of the spec's ``options_type``.
        :raises PluginError: no such provider (see :meth:`provider_spec`).
        :raises ConfigError: an unknown or missing option, or a bad value; the
            message lists the valid options.
        """
        spec = self.provider_spec(name)
        fields = {field.name: field for field in attrs.fields(spec.options_type)}
        unknown = sorted(set(options) - set(fields))
        if unknown:
            valid = ", ".join(fields) or "none"
            raise ConfigError(f"provider {name!r} has no option(s) {', '.join(unknown)} "
                              f"(its options: {valid})")
        try:
            return spec.options_type(**options)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"provider {name!r}: bad options: {exc}") from exc
