"""``python -m edgesync.edge``: serve an edge, without the ``edgesync`` command tree.

What packaged images run (containers, unikernels): the same server as
``edgesync serve``, started without loading click, which saves about 5 MB of
resident memory per instance. The folder comes from ``--dir`` or
``$EDGESYNC_EDGE_DIR``; with ``--state`` or ``$EDGESYNC_STATE_DIR`` the
versions are kept elsewhere, so the folder (configuration, certificate,
tokens) may be a read-only mount.

Example::

    python -m edgesync.edge --dir /srv/edge --listen 0.0.0.0:8443
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from edgesync.edge.server import run


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m edgesync.edge",
        description="Serve an edgesync edge until SIGTERM or Ctrl-C (as 'edgesync serve').",
        epilog="Example: python -m edgesync.edge --dir /srv/edge --listen 0.0.0.0:8443")
    parser.add_argument("--dir", type=Path, default=os.environ.get("EDGESYNC_EDGE_DIR"),
                        help="the edge's folder (default: $EDGESYNC_EDGE_DIR)")
    parser.add_argument("--state", type=Path, default=os.environ.get("EDGESYNC_STATE_DIR"),
                        help="keep the versions here, not in the edge's folder "
                             "(default: $EDGESYNC_STATE_DIR)")
    parser.add_argument("--listen", metavar="HOST:PORT", help="overrides server.listen")
    parser.add_argument("--threads", type=int, help="overrides server.threads")
    parser.add_argument("--plain-http", action="store_true",
                        help="serve HTTP (loopback, or behind a TLS-terminating proxy)")
    parser.add_argument("--access-log", metavar="FILE", help="overrides server.access_log")
    args = parser.parse_args(argv)
    if args.dir is None:
        parser.error("give the edge's folder with --dir, or set EDGESYNC_EDGE_DIR")
    return run(Path(args.dir), listen=args.listen, threads=args.threads,
               plain_http=args.plain_http, access_log=args.access_log,
               state_dir=Path(args.state) if args.state else None)


if __name__ == "__main__":
    sys.exit(main())
