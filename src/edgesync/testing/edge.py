"""A real edge for a test: certificate, configuration, a token and a running server.

End-to-end tests (the core's and a plugin's) start the edge as it runs in
production, a cheroot server on loopback speaking HTTPS, with one call::

    with running_edge(tmp_path / "edge", provider="local",
                      options={"root": str(tmp_path / "cloud")}) as edge:
        client = EdgeClient(edge.url, edge.token, fingerprint=edge.fingerprint)
        ...

``edge`` is the :class:`~edgesync.edge.EdgeServer`; ``edge.token`` is a bearer
token for the user ``"me"``. For an edge started as a process
(``python -m edgesync.edge``, ``edgesync serve``), :func:`read_serving` reads
its address and certificate fingerprint from what it prints, and
:func:`free_port` picks a port when it must be known beforehand.
"""

from __future__ import annotations

import contextlib
import io
import re
import socket
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = ["free_port", "read_serving", "running_edge"]


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


def read_serving(process: subprocess.Popen[str]) -> tuple[str, str | None]:
    """The URL and fingerprint an edge process prints once it listens.

    Reads the process's standard output (a text pipe) up to the line
    ``edgesync edge ... serving URL ...`` and, for HTTPS, the fingerprint line
    after it.

    :returns: ``(url, fingerprint)``; the fingerprint is None for plain HTTP.
    :raises RuntimeError: the process ended, or printed something else first;
        the message holds its standard error.
    """
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r" serving (\S+)", line)
    if not match:
        err = process.stderr.read() if process.stderr is not None else ""
        raise RuntimeError(f"the edge did not start: {line}{err}")
    url = match.group(1)
    if not url.startswith("https:"):
        return url, None
    found = re.search(r"\(SHA-256\): (\S+)", process.stdout.readline())
    return url, found.group(1) if found else None
