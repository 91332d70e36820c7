"""The hooks a plugin may implement: the whole plugin contract of edgesync.

edgesync finds plugins with :mod:`pluggy` (project name ``edgesync``). A plugin
is a module, registered by an entry point in the group ``edgesync`` whose name
is the plugin's name::

    # pyproject.toml of the distribution "edgesync-example"
    [project.entry-points.edgesync]
    example = "edgesync_example.plugin"

The module implements one or more hooks below, marked with :data:`hookimpl`.
Registration hooks take no arguments and *yield records* (frozen attrs
classes from :mod:`edgesync.types`); the host validates them, refuses
duplicate names (naming both distributions) and looks them up by name. Doing
the work (uploading a file) is a method call on the object a record's factory
builds, never a hook call.

Rules for hook authors:

- Every hook name starts with ``edgesync_``. Registration hooks are plural
  nouns; decision hooks (added later) are verb phrases marked ``firstresult``.
- New parameters are only ever added as keyword arguments; pluggy passes a
  hook implementation only the arguments it names, so old plugins keep working.
- A record's name matches ``[a-z][a-z0-9-]*``; a bad name fails where the
  plugin builds the record.

Document formats join this module with the part that uses them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pluggy

from edgesync.types import HashSpec, PackTarget, ProviderSpec

if TYPE_CHECKING:
    import click

__all__ = ["EdgesyncSpecs", "hookimpl", "hookspec"]

#: Marks a hook specification (used by edgesync itself).
hookspec = pluggy.HookspecMarker("edgesync")
#: Marks a hook implementation in a plugin module: ``@hookimpl def edgesync_providers(): ...``
hookimpl = pluggy.HookimplMarker("edgesync")


class EdgesyncSpecs:
    """Hook specifications. Plugins implement them as module-level functions."""

    @hookspec
    def edgesync_providers(self) -> Iterable[ProviderSpec]:
        """Yield one :class:`~edgesync.types.ProviderSpec` per storage provider offered.

        The spec's ``factory`` is called only when an edge is configured to use
        the provider, with an instance of ``options_type`` built from the
        edge's ``[provider.options]`` table; import SDKs inside it.

        :returns: an iterable of :class:`~edgesync.types.ProviderSpec`.

        Example, in ``edgesync_example/plugin.py``::

            import attrs
            from edgesync.hookspecs import hookimpl
            from edgesync.types import ProviderSpec

            @attrs.frozen(kw_only=True)
            class ExampleOptions:
                bucket: str = attrs.field(metadata={"help": "the bucket to sync into"})

            def _make(options: ExampleOptions):
                from edgesync_example.provider import ExampleProvider  # lazy SDK import
                return ExampleProvider(options)

            @hookimpl
            def edgesync_providers():
                yield ProviderSpec(name="example", factory=_make,
                                   options_type=ExampleOptions,
                                   description="Example Cloud buckets")
        """

    @hookspec
    def edgesync_hash_types(self) -> Iterable[HashSpec]:
        """Yield one :class:`~edgesync.types.HashSpec` per content-hash type offered.

        A provider lists the hash types its service reports in
        :attr:`~edgesync.types.ProviderFacts.hash_types`; the edge computes the
        same hashes locally with these hashers and compares them after every
        upload. ``sha256`` is built in.

        :returns: an iterable of :class:`~edgesync.types.HashSpec`.

        Example::

            @hookimpl
            def edgesync_hash_types():
                yield HashSpec(name="example-md5", factory=hashlib.md5,
                               description="Example Cloud's MD5 of the content")
        """

    @hookspec
    def edgesync_auth_commands(self) -> Iterable[click.Command]:
        """Yield one :mod:`click` command per provider that needs a sign-in.

        Each command is named after its provider and appears as
        ``edgesync auth NAME``; it runs the provider's interactive sign-in
        and writes what the edge's configuration will point at (a token
        file). Import the SDK inside the command's body, not at module level,
        so that ``edgesync --help`` stays fast.

        :returns: an iterable of :class:`click.Command`.

        Example::

            @hookimpl
            def edgesync_auth_commands():
                @click.command("example")
                @click.option("--token-file", required=True)
                def auth_example(token_file):
                    "Link an Example Cloud account."
                    ...
                yield auth_example
        """

    @hookspec
    def edgesync_pack_targets(self) -> Iterable[PackTarget]:
        """Yield one :class:`~edgesync.types.PackTarget` per way of packaging an edge.

        Each target is a subcommand of ``edgesync-pack`` (``rumprun`` and
        ``docker`` are plugins too). The command builds its artefacts with the
        shared steps of :mod:`edgesync.pack`: resolving the edge's pure-Python
        dependencies for the target's Python, checking the tree, and preparing
        per-instance edge folders.

        :returns: an iterable of :class:`~edgesync.types.PackTarget`.

        Example::

            def _command():
                from edgesync_pack_example.cli import pack_example  # a click.Command
                return pack_example

            @hookimpl
            def edgesync_pack_targets():
                yield PackTarget(name="example", command=_command,
                                 summary="a tarball for Example OS")
        """
