"""``edgesync auth dropbox``: link a Dropbox account with OAuth 2 (PKCE, offline access).

The no-redirect flow: the command prints Dropbox's authorisation URL, the
person opens it, allows the app and pastes the code back. Dropbox then issues
a refresh token (offline access), which is written with the app key to a JSON
file only its owner can read; the edge's ``[provider.options] token_file``
points at it. No app secret is involved anywhere (PKCE).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgesync.errors import AuthError

__all__ = ["link_account"]


def link_account(app_key: str, token_file: Path, *, session: Any = None,
                 ask: Callable[[str], str] = input,
                 say: Callable[[str], None] = print) -> dict[str, str]:
    """Run the sign-in and write ``token_file``.

    :param app_key: the Dropbox app's key.
    :param token_file: where to write ``{"app_key", "refresh_token", "account_id"}``
        (mode 0600; replaced atomically).
    :param session: the ``requests`` session for the token request (tests pass
        the emulator's).
    :param ask: reads the authorisation code from the person.
    :param say: shows the instructions.
    :returns: what was written.
    :raises AuthError: Dropbox refused the code.
    """
    import dropbox
    import dropbox.oauth

    flow = dropbox.DropboxOAuth2FlowNoRedirect(app_key, use_pkce=True,
                                               token_access_type="offline")
    if session is not None:
        flow.requests_session = session
    url = flow.start()
    say(f"1. Open this address in a browser:\n   {url}\n"
        "2. Sign in to Dropbox if asked, and click \"Allow\".\n"
        "3. Copy the authorisation code Dropbox shows.")
    code = ask("Authorisation code: ").strip()
    if not code:
        raise AuthError("no authorisation code was entered; nothing was written")
    try:
        result = flow.finish(code)
    except Exception as exc:  # the SDK raises requests' HTTPError and its own oauth errors
        raise AuthError(f"Dropbox refused the authorisation code ({exc}); run "
                        "'edgesync auth dropbox' again and paste a fresh code") from exc
    if not result.refresh_token:
        raise AuthError("Dropbox gave no refresh token (offline access was not granted)")
    data = {"app_key": app_key, "refresh_token": result.refresh_token,
            "account_id": result.account_id or ""}
    token_file = token_file.expanduser()
    token_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = token_file.with_name(f".{token_file.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=1)
    os.replace(tmp, token_file)
    return data
