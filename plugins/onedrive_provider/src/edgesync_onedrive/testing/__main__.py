"""``python -m edgesync_onedrive.testing``: serve a OneDrive emulator until Ctrl-C.

Prints the URL (for :func:`edgesync_onedrive.testing.loopback_session` in
another process) and the client id the sign-in endpoints accept. Device codes
are approved as they are issued, so a device-code sign-in completes at once.
"""

from __future__ import annotations

import argparse

from edgesync_onedrive.testing import OneDriveEmulator


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` and serve until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m edgesync_onedrive.testing",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--client-id", default="edgesync-test-client",
                        help="the application (client) id to accept")
    parser.add_argument("--lenient", action="store_true",
                        help="turn strict mode off (Authorization on upload/download URLs, "
                             "fragment alignment)")
    args = parser.parse_args(argv)
    with OneDriveEmulator(client_id=args.client_id, strict=not args.lenient) as emulator:
        print(f"OneDrive emulator at {emulator.url} (client id {emulator.client_id!r})")
        emulator.wait_until_stopped(announce="Ctrl-C to stop.")


if __name__ == "__main__":
    main()
