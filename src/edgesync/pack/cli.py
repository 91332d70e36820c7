"""The ``edgesync-pack`` command: one subcommand per installed pack target.

Targets register with the ``edgesync_pack_targets`` hook; ``edgesync-pack
--help`` lists the installed ones. The options every target shares are here
as decorators (:func:`vendor_options`), so targets parse them alike, and
:func:`run_pack` turns an :class:`~edgesync.errors.EdgesyncError` into a
message and exit status 2.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click

from edgesync.errors import EdgesyncError

__all__ = ["main", "pip_args", "progress", "run_pack", "vendor_options"]


class _Targets(click.Group):
    """A group whose subcommands are the installed pack targets."""

    @functools.cached_property
    def _targets(self) -> dict[str, Any]:
        """The installed targets, loaded once per process."""
        from edgesync.plugins import PluginHost

        return dict(PluginHost().load().pack_targets())

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._targets)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self._targets.get(cmd_name)
        if target is None:
            return None
        command = target.command()
        command.short_help = command.short_help or target.summary
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        targets = self._targets
        rows = [(name, targets[name].summary) for name in sorted(targets)]
        with formatter.section("Targets (installed)"):
            if rows:
                formatter.write_dl(rows)
            else:
                formatter.write_text("none: install one, e.g. 'pip install "
                                     "edgesync-pack-docker' or 'edgesync-pack-rumprun'")


@click.group(cls=_Targets, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgesync", prog_name="edgesync-pack")
def main() -> None:
    """Package an edge to run elsewhere: a unikernel image, container images.

    Each target vendors the edge service, one provider plugin and their
    pure-Python dependencies for the target's Python, checks that the result
    is complete, and writes a launcher that starts N instances, one per user.

    \b
    Examples:
      edgesync-pack rumprun --provider dropbox --out build/rumprun
      edgesync-pack docker --provider onedrive --out build/docker --build
      edgesync-pack TARGET --help      (each target's options)
    """


def vendor_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options every target takes: provider, output, target Python, wheel sources."""
    options = [
        click.option("--provider", required=True, metavar="NAME",
                     help="The provider the edge uploads through: 'local' or an installed "
                          "plugin ('edgesync plugins' lists them)."),
        click.option("--out", required=True, type=click.Path(file_okay=False),
                     help="The output folder; must not exist or be empty."),
        click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
                     help="A provider option for every instance's edge.toml (repeatable); "
                          "'{user}' is replaced by each instance's user."),
        click.option("--find-links", "find_links", multiple=True, metavar="DIR",
                     help="Also look for wheels here (repeatable)."),
        click.option("--offline", is_flag=True,
                     help="Use only --find-links folders, never the package index."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def pip_args(find_links: tuple[str, ...], offline: bool) -> list[str]:
    """The ``pip download`` options for ``--find-links`` and ``--offline``."""
    args = [arg for path in find_links for arg in ("--find-links", path)]
    return (["--no-index"] if offline else []) + args


def progress(line: str) -> None:
    """Print one progress line to standard error (the packers' steps)."""
    click.echo(f"  {line}", err=True)


def run_pack(build: Callable[[], int | None]) -> None:
    """Run a target's build; an :class:`EdgesyncError` exits 2 with its message."""
    try:
        status = build()
    except EdgesyncError as exc:
        click.echo(f"edgesync-pack: {exc.message}", err=True)
        sys.exit(2)
    sys.exit(status or 0)
