"""A real edge for a test: certificate, configuration, a token and a running server.

End-to-end tests (the core's and a plugin's) start the edge as it runs in
production, a cheroot server on loopback speaking HTTPS, with one call::

    with running_edge(tmp_path / "edge", provider="local",
                      options={"root": str(tmp_path / "cloud")}) as edge:
        client = EdgeClient(edge.url, edge.token, fingerprint=edge.fingerprint)
        ...

``edge`` is the :class:`~edgesync.edge.EdgeServer`; ``edge.token`` is a bearer
token for the user ``"me"``. :func:`free_port` picks a port for an edge that
a test starts in another process, where the port must be known beforehand.
"""

from __future__ import annotations

import contextlib
import io
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = ["free_port", "running_edge"]


@contextlib.contextmanager
def running_edge(folder: Path, *, provider: str = "local",
                 options: Mapping[str, Any] | None = None, host: Any = None,
                 policy: Any = None, threads: int = 4) -> Iterator[Any]:
    """Start a personal-mode edge in ``folder`` for the user ``"me"``; stop it afterwards.

    :param folder: the edge's folder (made if missing; a new certificate goes in ``tls/``).
    :param provider: the provider's registered name.
    :param options: its ``[provider.options]``.
    :param host: the :class:`~edgesync.plugins.PluginHost` to take it from
        (default: the edge's own, which loads the configured provider's plugin).
    :param policy: the :class:`~edgesync.edge.RetryPolicy` (default: the configuration's).
    :param threads: worker threads.
    :returns: the started :class:`~edgesync.edge.EdgeServer`, with a ``token`` attribute.

    Writes are not flushed to disk (``fsync = false``: throwaway data), the
    access log goes to memory, and the server notices :meth:`stop` quickly.
    """
    from edgesync.edge import EdgeConfig, EdgeServer, TokenStore
    from edgesync.tls import create_certificate

    folder = Path(folder)
    create_certificate(folder / "tls" / "cert.pem", folder / "tls" / "key.pem")
    config = EdgeConfig.from_mapping(
        {"fsync": False, "server": {"listen": "127.0.0.1:0", "threads": threads},
         "provider": {"name": provider, "options": dict(options or {})}}, folder)
    server = EdgeServer(config, host=host, policy=policy, log_stream=io.StringIO(),
                        poll_interval=0.02).start()
    server.token = TokenStore(config.tokens_path).add("me")[0]
    try:
        yield server
    finally:
        server.stop()


def free_port() -> int:
    """A loopback port nothing listens on now (an edge binds it with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
