"""``edgesync auth onedrive``: sign in with the device-code flow of MSAL.

The command shows Microsoft's message ("To sign in, use a web browser to open
the page https://microsoft.com/devicelogin and enter the code ..."), waits
while the person signs in on any device, and writes MSAL's token cache to a
file only its owner can read; the edge's ``[provider.options] token_cache``
points at it, and the edge keeps it current as tokens rotate.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgesync.errors import AuthError
from edgesync_onedrive._errors import auth_error, translate_errors
from edgesync_onedrive.provider import SCOPES, save_cache

__all__ = ["sign_in"]


def sign_in(client_id: str, token_cache: Path, *,
            authority: str = "https://login.microsoftonline.com/consumers",
            session: Any = None, say: Callable[[str], None] = print) -> dict[str, str]:
    """Run the device-code sign-in and write the token cache.

    :param client_id: the app registration's client ID.
    :param token_cache: where to write MSAL's cache (mode 0600, replaced atomically).
    :param authority: the sign-in authority.
    :param session: the HTTP client MSAL uses (tests pass the emulator's).
    :param say: shows Microsoft's instructions.
    :returns: ``{"username", "token_cache"}``.
    :raises AuthError: the sign-in was declined, expired or refused.
    """
    import msal

    cache = msal.SerializableTokenCache()
    app = msal.PublicClientApplication(client_id, authority=authority, token_cache=cache,
                                       http_client=session)
    with translate_errors():
        flow = app.initiate_device_flow(scopes=SCOPES)
        if "user_code" not in flow:
            raise auth_error(flow)
        say(flow["message"])
        result = app.acquire_token_by_device_flow(flow)
    if "access_token" not in result:
        error = auth_error(result)
        raise AuthError(f"the sign-in did not complete: {error.message}")
    token_cache = token_cache.expanduser()
    save_cache(token_cache, cache.serialize())
    claims = result.get("id_token_claims") or {}
    return {"username": str(claims.get("preferred_username", "")),
            "token_cache": str(token_cache)}


