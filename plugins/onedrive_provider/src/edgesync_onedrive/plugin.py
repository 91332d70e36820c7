"""Hook implementations of the ``onedrive`` plugin (registered by entry point)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from edgesync.hookspecs import hookimpl
from edgesync.types import HashSpec, ProviderSpec
from edgesync_onedrive.provider import OneDriveOptions
from edgesync_onedrive.quickxorhash import QuickXorHasher


def _make(options: OneDriveOptions) -> Any:
    from edgesync_onedrive.provider import OneDriveProvider  # imports msal

    return OneDriveProvider(options)


@hookimpl
def edgesync_providers() -> Iterable[ProviderSpec]:
    """The ``onedrive`` provider."""
    yield ProviderSpec(name="onedrive", factory=_make, options_type=OneDriveOptions,
                       description="OneDrive, through Microsoft Graph and MSAL "
                                   "(edgesync-onedrive)",
                       not_on_edge={"cryptography": "msal and PyJWT import it only for "
                                                    "certificate credentials and signed "
                                                    "tokens; the edge refreshes a public "
                                                    "client's token without it"})


@hookimpl
def edgesync_hash_types() -> Iterable[HashSpec]:
    """OneDrive's QuickXorHash (in hex)."""
    yield HashSpec(name="quickxor", factory=QuickXorHasher,
                   description="OneDrive QuickXorHash, as hex (edgesync-onedrive)")


@hookimpl
def edgesync_auth_commands() -> Iterable[Any]:
    """``edgesync auth onedrive``."""
    import click

    @click.command("onedrive")
    @click.option("--client-id", required=True, help="The application (client) ID of your "
                  "app registration (Microsoft Entra admin center).")
    @click.option("--token-cache", type=click.Path(dir_okay=False, path_type=Path),
                  required=True, help="Where to write the sign-in; point the edge's "
                  "[provider.options] token_cache at it.")
    @click.option("--authority", default="https://login.microsoftonline.com/consumers",
                  show_default=True, help="Personal accounts: .../consumers; work or school: "
                  ".../organizations or your tenant.")
    @click.option("--emulator", help="Sign in to an edgesync_onedrive.testing emulator at this "
                  "URL instead of Microsoft.")
    def auth_onedrive(client_id: str, token_cache: Path, authority: str,
                      emulator: str | None) -> None:
        """Sign in to OneDrive for the edge (device code: sign in on any device).

        Shows a code and an address; sign in there with the account whose
        OneDrive the edge should use. The sign-in goes to TOKEN_CACHE,
        readable by you only; the edge refreshes it by itself.

        \b
        Example:
          edgesync auth onedrive --client-id 00000000-0000-0000-0000-000000000000 \\
              --token-cache ~/edge/onedrive.json
        """
        from edgesync_onedrive.auth import sign_in

        session = None
        if emulator:
            from edgesync_onedrive.testing import loopback_session

            session = loopback_session(emulator)
        data = sign_in(client_id, token_cache, authority=authority, session=session,
                       say=lambda text: click.echo(text, err=True))
        click.echo(f"Signed in as {data['username'] or '(unknown)'}; the sign-in is in "
                   f"{token_cache}. In edge.toml:\n  [provider]\n  name = \"onedrive\"\n"
                   f"  [provider.options]\n  client_id = \"{client_id}\"\n  token_cache = "
                   f"\"{token_cache}\"")

    yield auth_onedrive
