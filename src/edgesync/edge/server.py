"""Serving the edge: cheroot, threaded, in one process, HTTPS with the edge's own certificate.

cheroot is a pure-Python production WSGI server (CherryPy's) that runs a pool
of threads in one process and speaks TLS through the standard ``ssl`` module,
so the same code serves natively, in a container and in a unikernel, which
cannot fork.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from typing import TextIO

from edgesync.edge.api import EdgeApp, access_log
from edgesync.edge.config import EdgeConfig
from edgesync.edge.service import EdgeService
from edgesync.edge.tokens import TokenStore
from edgesync.edge.uploader import RetryPolicy
from edgesync.errors import ConfigError
from edgesync.plugins import PluginHost
from edgesync.tls import fingerprint

__all__ = ["EdgeServer", "run"]


class EdgeServer:
    """One edge: the service, its HTTP API, and the server socket.

    :param config: the checked configuration.
    :param host: the plugin host (default: a loaded one).
    :param policy: retry limits (default from ``config``).
    :param log_stream: where access-log lines go when ``config.access_log`` is
        ``"-"`` (default standard error).
    :param poll_interval: how often the idle server wakes to notice :meth:`stop`
        and expire idle connections, in seconds.
    :raises ConfigError: TLS is on and the certificate or key is missing.
    :raises PluginError: the configured provider cannot be loaded.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`::

        with EdgeServer(EdgeConfig.load("~/edge")) as server:
            print(server.url)
            server.wait()
    """

    def __init__(self, config: EdgeConfig, *, host: PluginHost | None = None,
                 policy: RetryPolicy | None = None, log_stream: TextIO | None = None,
                 poll_interval: float = 0.5) -> None:
        from cheroot import wsgi

        self.config = config
        self.fingerprint: str | None = None
        if config.tls:
            for path in (config.cert_path, config.key_path):
                if not path.is_file():
                    raise ConfigError(f"{path} is missing: TLS needs the edge's certificate; "
                                      f"make one with 'edgesync edge init {config.dir}'")
            self.fingerprint = fingerprint(config.cert_path.read_text("ascii"))
        self.service = EdgeService(config, host=host, policy=policy)
        self.app = EdgeApp(self.service, TokenStore(config.tokens_path))
        self._handler = self._log_handler(log_stream)
        self._server = wsgi.Server((config.host, config.port), self.app,
                                   numthreads=config.threads, request_queue_size=64,
                                   timeout=60, shutdown_timeout=5,
                                   server_name="edgesync-edge")
        self._server.expiration_interval = poll_interval
        # Bodies far over the edge's own limits are refused by cheroot itself
        # (plain-text 413, connection closed) before they reach the application.
        self._server.max_request_body_size = (max(config.max_file_size, config.max_delta_size)
                                              + (1 << 20))
        if config.tls:
            from cheroot.ssl.builtin import BuiltinSSLAdapter

            self._server.ssl_adapter = BuiltinSSLAdapter(str(config.cert_path),
                                                         str(config.key_path))
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    def _log_handler(self, stream: TextIO | None) -> logging.Handler:
        if self.config.access_log == "-":
            handler: logging.Handler = logging.StreamHandler(stream or sys.stderr)
        else:
            handler = logging.FileHandler(Path(self.config.access_log), encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(message)s"))
        return handler

    @property
    def address(self) -> tuple[str, int]:
        """The bound host and port (the real port when 0 was asked for)."""
        host, port = self._server.bind_addr[:2]
        return host, port

    @property
    def url(self) -> str:
        """The base URL devices use, e.g. ``https://127.0.0.1:8443``."""
        host, port = self.address
        shown = f"[{host}]" if ":" in host else host
        return f"{'https' if self.config.tls else 'http'}://{shown}:{port}"

    def start(self) -> EdgeServer:
        """Bind the socket, start the worker threads and background uploads.

        :returns: ``self``.
        :raises OSError: the address cannot be bound.
        """
        access_log.addHandler(self._handler)
        access_log.setLevel(logging.INFO)
        access_log.propagate = False
        self._server.prepare()
        self.service.start()
        self._thread = threading.Thread(target=self._serve, name="edgesync-edge", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        try:
            self._server.serve()
        finally:
            self._stopped.set()

    def wait(self) -> None:
        """Block until the server stops."""
        self._stopped.wait()

    def stop(self) -> None:
        """Stop accepting requests, finish the ones in progress, stop background uploads."""
        self._server.stop()
        self.service.close()
        if self._thread is not None:
            self._thread.join(10)
        access_log.removeHandler(self._handler)
        self._handler.close()

    def __enter__(self) -> EdgeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run(edge_dir: Path, *, listen: str | None = None, threads: int | None = None,
        plain_http: bool = False, access_log: str | None = None,
        state_dir: Path | None = None) -> int:
    """Serve the edge in ``edge_dir`` until SIGTERM or SIGINT; return the exit status.

    What ``edgesync serve`` and ``python -m edgesync.edge`` both run. Prints the
    URL and the certificate's fingerprint on standard output once listening.

    :param edge_dir: the edge's folder (``edge.toml`` and the rest).
    :param listen: ``HOST:PORT`` overriding ``server.listen``.
    :param threads: overrides ``server.threads``.
    :param plain_http: serve HTTP (refused off loopback unless behind a proxy).
    :param access_log: overrides ``server.access_log``.
    :param state_dir: keep the versions here instead of in ``edge_dir`` (which
        may then be read-only).
    :returns: 0 after a clean stop, 1 when the address cannot be bound, 3 for
        a configuration or plugin problem (the message is on standard error).
    """
    from edgesync import __version__
    from edgesync.edge.config import parse_listen
    from edgesync.errors import EdgesyncError, PluginError

    try:
        overrides: dict[str, object] = {"threads": threads, "access_log": access_log,
                                        "state_dir": state_dir}
        if listen:
            overrides["host"], overrides["port"] = parse_listen(listen)
        if plain_http:
            overrides["tls"] = False
        config = EdgeConfig.load(edge_dir, **overrides)
        server = EdgeServer(config)
        server.start()
    except (ConfigError, PluginError) as exc:
        print(f"edgesync: {exc.message}", file=sys.stderr)
        return 3
    except EdgesyncError as exc:
        print(f"edgesync: {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"edgesync: cannot listen on {config.host}:{config.port}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 1
    who = (f"personal mode for {config.user!r}" if config.mode == "personal"
           else "multi-user mode")
    print(f"edgesync edge {__version__} serving {server.url} ({who}, "
          f"provider {config.provider})")
    if server.fingerprint:
        print(f"certificate fingerprint (SHA-256): {server.fingerprint}")
    sys.stdout.flush()

    def stop(signum: int, frame: object) -> None:
        server.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.wait()
    print("edgesync edge stopped; versions not yet uploaded are kept for the next start")
    return 0
