"""Hook implementations of the ``dropbox`` plugin (registered by entry point)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from edgesync.hookspecs import hookimpl
from edgesync.types import HashSpec, ProviderSpec
from edgesync_dropbox.provider import DropboxOptions


def _make(options: DropboxOptions) -> Any:
    from edgesync_dropbox.provider import DropboxProvider  # imports the SDK

    return DropboxProvider(options)


def _content_hasher() -> Any:
    from dropbox.content_hash import DropboxContentHasher

    return DropboxContentHasher()


@hookimpl
def edgesync_providers() -> Iterable[ProviderSpec]:
    """The ``dropbox`` provider."""
    yield ProviderSpec(name="dropbox", factory=_make, options_type=DropboxOptions,
                       description="Dropbox, through the official SDK (edgesync-dropbox)",
                       not_on_edge={"jinja2": "stone's code generator; at run time the SDK "
                                              "imports only stone's Python runtime"})


@hookimpl
def edgesync_hash_types() -> Iterable[HashSpec]:
    """Dropbox's content hash: SHA-256 of the SHA-256s of 4 MiB blocks."""
    yield HashSpec(name="dropbox", factory=_content_hasher,
                   description="Dropbox content hash (edgesync-dropbox)")


@hookimpl
def edgesync_auth_commands() -> Iterable[Any]:
    """``edgesync auth dropbox``."""
    import click

    @click.command("dropbox")
    @click.option("--app-key", required=True, help="The Dropbox app's key (from the App "
                  "Console; no secret is needed).")
    @click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path),
                  required=True, help="Where to write the refresh token; point the edge's "
                  "[provider.options] token_file at it.")
    @click.option("--emulator", help="Link with an edgesync_dropbox.testing emulator at this "
                  "URL instead of Dropbox.")
    def auth_dropbox(app_key: str, token_file: Path, emulator: str | None) -> None:
        """Link a Dropbox account for the edge (OAuth 2 with PKCE, offline access).

        Prints an address to open in a browser; after you allow the app,
        paste the code Dropbox shows. The refresh token goes to TOKEN_FILE,
        readable by you only.

        \b
        Example:
          edgesync auth dropbox --app-key abc123 --token-file ~/edge/dropbox.json
        """
        from edgesync_dropbox.auth import link_account

        session = None
        if emulator:
            from edgesync_dropbox.testing import loopback_session

            session = loopback_session(emulator)
        data = link_account(app_key, token_file, session=session,
                            ask=lambda prompt: click.prompt(prompt.rstrip(": "), err=True),
                            say=lambda text: click.echo(text, err=True))
        click.echo(f"Linked Dropbox account {data['account_id'] or '(unknown id)'}; the "
                   f"token is in {token_file}. In edge.toml:\n  [provider]\n  name = "
                   f"\"dropbox\"\n  [provider.options]\n  app_key = \"{app_key}\"\n  "
                   f"token_file = \"{token_file}\"")

    yield auth_dropbox
