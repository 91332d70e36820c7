"""``python -m edgesync.edge.health``: is the edge in this folder answering?

A container's ``HEALTHCHECK`` and an operator's probe: reads the edge's
configuration (``--dir`` or ``$EDGESYNC_EDGE_DIR``) for its port and whether it
speaks TLS, asks ``GET /v1/health`` on loopback, and exits 0 when the edge
answers 200, else 1 with the reason on standard error. The certificate is
checked against the edge's own (the fingerprint is read from its folder), so
the probe does not need a certificate authority. Standard library only.

Example::

    python -m edgesync.edge.health --dir /run/secrets/edgesync
"""

from __future__ import annotations

import argparse
import http.client
import os
import ssl
import sys
from pathlib import Path

__all__ = ["check", "main"]


def check(edge_dir: Path, *, timeout: float = 5.0) -> str | None:
    """Ask the edge configured in ``edge_dir`` for its health over loopback.

    :returns: None when it answered 200, else what went wrong (one line).
    """
    from edgesync.edge.config import EdgeConfig
    from edgesync.errors import ConfigError
    from edgesync.tls import fingerprint

    try:
        config = EdgeConfig.load(edge_dir)
    except ConfigError as exc:
        return exc.message
    host = "127.0.0.1" if config.host in ("0.0.0.0", "") else config.host
    host = "::1" if host == "::" else host
    conn: http.client.HTTPConnection
    if config.tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the certificate is pinned below instead
        conn = http.client.HTTPSConnection(host, config.port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(host, config.port, timeout=timeout)
    try:
        if config.tls:
            pinned = fingerprint(config.cert_path.read_text("ascii"))
            conn.connect()
            sock = conn.sock
            der = sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None
            if der is None or fingerprint(ssl.DER_cert_to_PEM_cert(der)) != pinned:
                return f"the server on port {config.port} is not this edge (certificate differs)"
        conn.request("GET", "/v1/health")
        status = conn.getresponse().status
    except OSError as exc:
        return f"no answer from {host}:{config.port}: {exc}"
    finally:
        conn.close()
    return None if status == 200 else f"GET /v1/health answered {status}"


def main(argv: list[str] | None = None) -> int:
    """Probe the edge; return 0 if healthy, 1 if not."""
    parser = argparse.ArgumentParser(prog="python -m edgesync.edge.health",
                                     description="Exit 0 if the edge in DIR answers "
                                                 "GET /v1/health with 200, else 1.")
    parser.add_argument("--dir", type=Path, default=os.environ.get("EDGESYNC_EDGE_DIR"),
                        help="the edge's folder (default: $EDGESYNC_EDGE_DIR)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds (default 5)")
    args = parser.parse_args(argv)
    if args.dir is None:
        parser.error("give the edge's folder with --dir, or set EDGESYNC_EDGE_DIR")
    problem = check(args.dir, timeout=args.timeout)
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
