"""``python -m edgesync_dropbox.testing``: serve a Dropbox emulator until Ctrl-C.

Prints the URL (for ``edgesync auth dropbox --emulator URL`` or the provider's
``emulator`` option) and a refresh token for the app key. A person can fetch
an authorisation code for a PKCE authorize URL by swapping
``https://www.dropbox.com`` for the printed URL.
"""

from __future__ import annotations

import argparse

from edgesync_dropbox.testing import DropboxEmulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m edgesync_dropbox.testing",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--app-key", default="edgesync-test", help="the app key to accept")
    args = parser.parse_args(argv)
    with DropboxEmulator(app_key=args.app_key) as emulator:
        print(f"Dropbox emulator at {emulator.url} (app key {emulator.app_key!r})")
        print(f"refresh token: {emulator.link_account()}")
        emulator.wait_until_stopped(announce="Ctrl-C to stop.")


if __name__ == "__main__":
    main()
