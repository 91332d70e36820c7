"""Building blocks of the cloud-service emulators that provider plugins ship.

A provider plugin tests against a stateful emulator of its service on
loopback (``edgesync_dropbox.testing``, ``edgesync_onedrive.testing``); what
such an emulator needs beyond its own routes is the same every time, and
lives here:

- :class:`Reply` -- what the HTTP handler writes for one request, including
  "drop the connection" and "send a truncated body";
- :class:`Emulator` -- the base of an emulator: start, stop, address, the
  ``requests`` sessions that reach it, and serving until Ctrl-C; a subclass
  adds its routes;
- :class:`EmulatorServer` -- a threaded stdlib HTTP server on ``127.0.0.1``
  that hands each request, as an :class:`HTTPRequest`, to one function and
  writes the :class:`Reply` it returns; it also drops idle keep-alive
  connections when stopped;
- :class:`LoopbackAdapter` and :func:`loopback_session` -- a ``requests``
  adapter that sends traffic for the service's real ``https://`` hosts to the
  emulator, keeping the ``Host`` header so the emulator routes by host;
- :class:`Action`, :class:`Rule`, :class:`FaultTable` -- fault injection:
  which request (route, host, nth match, how many times) and what happens to
  it, with the actions every service has: :func:`respond`, :func:`reset`,
  :func:`process_then`, :func:`process_then_reset`, :func:`delay`,
  :func:`truncate_body`.

Example::

    def handle(request: HTTPRequest) -> Reply:
        return Reply(200, [("Content-Type", "text/plain")], b"hello " + request.host.encode())

    server = EmulatorServer(handle, name="example-emulator").start()
    session = loopback_session(server.url, ["https://api.example.com/"])
    assert session.get("https://api.example.com/x").text == "hello api.example.com"
    server.stop()
"""

from __future__ import annotations

import abc
import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter

__all__ = ["Action", "Emulator", "EmulatorServer", "FaultTable", "HTTPRequest", "LoopbackAdapter",
           "Reply", "Rule", "delay", "loopback_session", "parse_range", "process_then", "process_then_reset",
           "reset", "reset_connection", "respond", "truncate_body"]


# --- replies and requests ----------------------------------------------------------------------


@dataclass
class Reply:
    """What the HTTP handler writes for one request.

    :ivar status: the HTTP status (meaningless when ``drop`` without ``truncate``).
    :ivar headers: extra headers, in order (Content-Length is added by the handler).
    :ivar body: the body bytes.
    :ivar drop: close the connection without (the rest of) a response.
    :ivar truncate: send the headers and only this many body bytes, then drop.
    :ivar processed_status: for a dropped reply, the status the request would have had.
    """

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    drop: bool = False
    truncate: int | None = None
    processed_status: int | None = None

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive), or None."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def set_header(self, name: str, value: str) -> None:
        """Replace (or add) header ``name``."""
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        self.headers.append((name, value))


@dataclass(frozen=True)
class HTTPRequest:
    """One request as the emulator's handling function receives it.

    :ivar method: ``"POST"``, ``"PUT"``, ...
    :ivar host: the ``Host`` header, lower-case, without a port.
    :ivar path: the URL path.
    :ivar query: the raw query string (without ``?``).
    :ivar headers: the headers, names lower-cased.
    :ivar body: the body (a chunked body is decoded).
    """

    method: str
    host: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes


# --- the HTTP server -----------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() drops keep-alive connections itself

    def __init__(self, handle: Callable[[HTTPRequest], Reply], name: str) -> None:
        self.handle_request_function = handle
        self.name = name
        self._live_lock = threading.Lock()
        self._live: dict[socket.socket, threading.Thread] = {}
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self.process_request_thread,
                                  args=(request, client_address), daemon=True,
                                  name=f"{self.name}-connection")
        with self._live_lock:
            self._live[request] = thread
        thread.start()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._live_lock:
                self._live.pop(request, None)

    def close_connections(self) -> None:
        """Wake every connection thread (idle keep-alive ones block reading) and wait."""
        with self._live_lock:
            live = list(self._live.items())
        for sock, _ in live:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for _, thread in live:
            thread.join(timeout=5)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up (timeouts, tests done) are not the emulator's errors.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120  # an idle keep-alive connection is closed after this
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stalls
    server: _Server

    @property
    def server_version(self) -> str:  # type: ignore[override]
        return f"edgesync-{self.server.name}"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self._serve()

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_POST

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except ValueError as exc:
            self._write(Reply(400, [("Content-Type", "text/plain; charset=utf-8")],
                              str(exc).encode()))
            self.close_connection = True
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        host = headers.get("host", "").lower()
        name, _, port = host.rpartition(":")
        if name and port.isdigit():
            host = name
        parts = urlsplit(self.path)
        request = HTTPRequest(method=self.command, host=host, path=parts.path,
                              query=parts.query, headers=headers, body=body)
        self._write(self.server.handle_request_function(request))

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not length.isdigit():
            raise ValueError(f"bad Content-Length {length!r}")
        return self.rfile.read(int(length))

    def _write(self, reply: Reply) -> None:
        if reply.drop and reply.truncate is None:
            self.close_connection = True  # the server closes it; no byte was written
            return
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        if reply.truncate is not None:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body if reply.truncate is None else reply.body[:reply.truncate])
        if reply.truncate is not None:
            self.close_connection = True


class EmulatorServer:
    """A threaded HTTP server on ``127.0.0.1`` at a free port, serving one function.

    :param handle: called, from a connection thread, with each request; returns
        the :class:`Reply` to write.
    :param name: names the threads and the ``Server`` header (``"dropbox-emulator"``).
    """

    def __init__(self, handle: Callable[[HTTPRequest], Reply], *, name: str) -> None:
        self._server = _Server(handle, name)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=f"{name}:{self.port}", daemon=True)

    @property
    def port(self) -> int:
        """The port it listens on."""
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> EmulatorServer:
        """Start serving in a daemon thread; returns ``self``."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections, release the port."""
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._thread.join()


class Emulator(abc.ABC):
    """The base of a cloud-service emulator: lifecycle, address and client sessions.

    A subclass sets :attr:`name`, :attr:`prefixes`, :attr:`routes` and
    :attr:`hosts`, implements :meth:`serve` (taking each request's due fault
    rule from ``self._faults`` and recording it in ``self._journal``, under
    ``self._lock``); it is then used as ``with MyEmulator() as emulator: ...``.

    :cvar name: names its threads and its ``Server`` header.
    :cvar prefixes: the service's URL prefixes that :meth:`session` reroutes here.
    :cvar routes: the route names :meth:`inject` accepts.
    :cvar hosts: host kind -> host name (``{"api": "api.dropboxapi.com"}``).
    """

    name: ClassVar[str] = "emulator"
    prefixes: ClassVar[tuple[str, ...]] = ()
    routes: ClassVar[frozenset[str]] = frozenset()
    hosts: ClassVar[Mapping[str, str]] = {}

    def __init__(self) -> None:
        self._server: EmulatorServer | None = None
        self._sessions: list[Any] = []
        self._lock = threading.RLock()
        self._faults = FaultTable()
        self._journal: list[Any] = []
        #: Exceptions the emulator itself raised while handling requests (each
        #: answered with a 500); :meth:`checked` fails a test that leaves any.
        self.server_errors: list[BaseException] = []

    @abc.abstractmethod
    def _clear_state(self) -> None:
        """Forget the service's own state (files, tokens...); called by :meth:`reset`."""

    def reset(self) -> None:
        """Forget the service's state (:meth:`_clear_state`), the fault rules, the
        journal and :attr:`server_errors`."""
        with self._lock:
            self._clear_state()
            self._faults.clear()
            self._journal.clear()
            self.server_errors.clear()

    @contextlib.contextmanager
    def checked(self) -> Iterator[Self]:
        """Reset, run the block, reset again; fail if the emulator broke meanwhile.

        What a per-test fixture wraps around a module-wide emulator::

            @pytest.fixture
            def emulator(_running_emulator):
                with _running_emulator.checked() as emulator:
                    yield emulator

        :raises AssertionError: the emulator raised while handling a request
            (a bug in it, or in an injected action), listed in the message.
        """
        self.reset()
        try:
            yield self
        finally:
            errors = list(self.server_errors)
            self.reset()
        if errors:
            raise AssertionError(f"the emulator failed while handling requests: {errors!r}")

    # --- faults and the journal ----------------------------------------------------

    def route_name(self, route: str) -> str:
        """How :meth:`inject` spells ``route`` (a subclass may accept aliases)."""
        return route

    def inject(self, route: str, action: Action, *, nth: int = 1, times: int | None = 1,
               host: str | None = None) -> Rule:
        """Make requests to ``route`` fail (or succeed oddly) as ``action`` says.

        :param route: one of :attr:`routes` (the emulator's module lists them); ``"*"``: any.
        :param action: what happens; the emulator's module has the builders.
        :param nth: apply first to the nth matching request from now (1: the next).
        :param times: how many matching requests it applies to; None: all from the nth on.
        :param host: only requests to this host: a kind of :attr:`hosts` or the full
            name; None: any.
        :returns: the rule (``rule.fired`` counts uses; ``rule.cancel()`` withdraws it).
        :raises ValueError: an unknown route or host, ``nth < 1``, ``times < 1``,
            or an action that makes no sense on the route.
        """
        name = self.route_name(route)
        if name != "*" and name not in self.routes:
            raise ValueError(f"unknown route {route!r}; known: {', '.join(sorted(self.routes))}")
        kind = None
        if host is not None:
            kind = host if host in self.hosts else {v: k for k, v in self.hosts.items()}.get(host)
            if kind is None:
                raise ValueError(f"unknown host {host!r}; known: {', '.join(self.hosts)}")
        if nth < 1 or (times is not None and times < 1):
            raise ValueError("nth and times count requests from 1")
        if name != "*":
            action.check(name)
        return self._faults.add(Rule(route=name, action=action, nth=nth, times=times, host=kind))

    def faults_pending(self) -> list[Rule]:
        """The injected rules that may still apply, in injection order."""
        return self._faults.pending()

    @property
    def journal(self) -> list[Any]:
        """The requests received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._journal)

    def clear_journal(self) -> None:
        """Forget the requests received so far."""
        with self._lock:
            self._journal.clear()

    # --- lifecycle ----------------------------------------------------------------------

    @abc.abstractmethod
    def serve(self, request: HTTPRequest) -> Reply:
        """Handle one request (called from a connection thread)."""

    def start(self) -> Self:
        """Serve on ``127.0.0.1`` at a free port, in a daemon thread.

        :returns: self, so ``emulator = MyEmulator().start()`` reads well.
        :raises RuntimeError: already started.
        """
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        self._server = EmulatorServer(self.serve, name=self.name).start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and close the sessions made by
        :meth:`session`. Safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        for session in self._sessions:
            session.close()
        self._sessions.clear()
        server.stop()

    def wait_until_stopped(self, announce: str = "") -> None:
        """Block until Ctrl-C or SIGTERM (the emulators' ``python -m`` entry points).

        Call it from the main thread of a running emulator; stopping it is
        left to the caller (``with Emulator() as e: e.wait_until_stopped()``).

        :param announce: printed (and flushed) once the signals are handled,
            so whoever reads it may stop the emulator at once.
        """
        import signal

        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        if announce:
            print(announce, flush=True)
        try:
            stopped.wait()
        except KeyboardInterrupt:
            pass

    def __enter__(self) -> Self:
        return self if self._server is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port it listens on.

        :raises RuntimeError: not started.
        """
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() first")
        return self._server.port

    @property
    def url(self) -> str:
        """``"http://127.0.0.1:PORT"``.

        :raises RuntimeError: not started.
        """
        return f"http://127.0.0.1:{self.port}"

    def session(self) -> Any:
        """A new :class:`requests.Session` whose traffic for :attr:`prefixes` reaches
        this emulator (hand it to the SDK); :meth:`stop` closes it.

        :raises RuntimeError: not started.
        """
        session = loopback_session(self.url, self.prefixes)
        self._sessions.append(session)
        return session


def parse_range(value: str, size: int) -> tuple[int, int] | str | None:
    """A ``Range`` header against ``size`` bytes, as a download endpoint reads it.

    :returns: ``(start, end)`` inclusive for a single ``bytes=`` range; None to
        ignore the header (malformed, as RFC 9110 says); ``"unsatisfiable"`` for a 416.
    """
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", value)
    if not match or not (match[1] or match[2]):
        return None
    if not match[1]:
        suffix = int(match[2])
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - suffix), size - 1
    start = int(match[1])
    end = int(match[2]) if match[2] else size - 1
    if start >= size or end < start:
        return "unsatisfiable"
    return start, min(end, size - 1)


# --- reaching it with requests ---------------------------------------------------------------------


class LoopbackAdapter(HTTPAdapter):
    """Send requests for any host to a local server, keeping the ``Host`` header.

    It sends a *copy* of each request and restores ``response.request`` and
    ``response.url`` afterwards. Rewriting the request in place would break
    redirects: the rewritten ``Host`` would leak into the redirected request,
    and requests' "drop Authorization on a cross-host redirect" check would
    compare loopback URLs and forward a bearer token to another host.

    :param port: the local server's port.
    :param host: the local server's address.
    :param kwargs: passed to :class:`requests.adapters.HTTPAdapter`.

    Example::

        session = requests.Session()
        session.mount("https://api.dropboxapi.com/", LoopbackAdapter(emulator.port))
    """

    def __init__(self, port: int, host: str = "127.0.0.1", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.port = port
        self.host = host

    def send(self, request: Any, stream: bool = False, timeout: Any = None, verify: Any = True,
             cert: Any = None, proxies: Mapping[str, str] | None = None) -> Any:
        """Send a copy of ``request`` to the local server; see ``HTTPAdapter.send``.

        Proxies are ignored: loopback traffic never goes through one.
        """
        original_url = request.url or ""
        parts = urlsplit(original_url)
        local = request.copy()
        local.url = f"http://{self.host}:{self.port}{parts.path or '/'}"
        if parts.query:
            local.url += f"?{parts.query}"
        local.headers["Host"] = parts.netloc
        response = super().send(local, stream=stream, timeout=timeout, verify=verify,
                                cert=cert, proxies=None)
        response.request = request
        response.url = original_url
        return response


def loopback_session(url: str, prefixes: Iterable[str]) -> Any:
    """A new :class:`requests.Session` whose traffic for ``prefixes`` goes to ``url``.

    :param url: the emulator's address, ``"http://127.0.0.1:PORT"``.
    :param prefixes: URL prefixes to reroute (``"https://api.dropboxapi.com/"``, ...).
    :raises ValueError: ``url`` has no port.
    """
    import requests

    parts = urlsplit(url)
    if parts.port is None or not parts.hostname:
        raise ValueError(f"expected the emulator's address like http://127.0.0.1:PORT, got {url!r}")
    session = requests.Session()
    for prefix in prefixes:
        session.mount(prefix, LoopbackAdapter(parts.port, parts.hostname))
    return session


# --- fault injection -------------------------------------------------------------------------------


class Action(abc.ABC):
    """What a fault rule does to a matching request; an emulator's helpers build them.

    Subclasses implement :meth:`run`, which receives the emulator's view of the
    request (its "fault context": the route, the decoded argument, and
    ``process()``, which runs the emulator's normal handling).
    """

    @abc.abstractmethod
    def run(self, ctx: Any) -> Reply:
        """Handle the request; return the reply to write (or a dropping one)."""

    def check(self, route: str) -> None:
        """Raise :class:`ValueError` when the action makes no sense on ``route``."""

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__.lstrip('_')}({fields})"


@dataclass(eq=False)
class Rule:
    """One injected fault: what to do to which requests.

    :ivar route: the emulator's name of the route it applies to; ``"*"``: any.
    :ivar action: what happens.
    :ivar nth: it first applies to the nth matching request after injection (1: the next).
    :ivar times: how many requests it applies to; None: every one from the nth on.
    :ivar host: only requests to this host kind (the emulator names them); None: any.
    :ivar seen: matching requests so far.
    :ivar fired: requests it was applied to so far.
    :ivar cancelled: withdrawn by :meth:`cancel`.
    """

    route: str
    action: Action
    nth: int = 1
    times: int | None = 1
    host: str | None = None
    seen: int = 0
    fired: int = 0
    cancelled: bool = False

    @property
    def pending(self) -> bool:
        """Whether it may still apply to a request."""
        return not self.cancelled and (self.times is None or self.fired < self.times)

    def cancel(self) -> None:
        """Withdraw the rule (an endless one, say)."""
        self.cancelled = True

    def _matches(self, route: str, host: str | None) -> bool:
        return (self.route in ("*", route)) and (self.host is None or self.host == host)


class FaultTable:
    """The injected rules, in injection order; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []

    def add(self, rule: Rule) -> Rule:
        """Append ``rule``; returns it."""
        with self._lock:
            self._rules.append(rule)
        return rule

    def take(self, route: str, host: str | None) -> Rule | None:
        """Count the request against every matching rule; return the first due one.

        Every matching rule counts the request, so ``nth`` means "the nth
        matching request after injection"; when two are due at once the
        earlier-injected one applies and the other applies to the next match.
        """
        chosen = None
        with self._lock:
            for rule in self._rules:
                if not rule.pending or not rule._matches(route, host):
                    continue
                rule.seen += 1
                if chosen is None and rule.seen >= rule.nth:
                    rule.fired += 1
                    chosen = rule
            self._rules = [rule for rule in self._rules if rule.pending]
        return chosen

    def pending(self) -> list[Rule]:
        """The rules that may still apply."""
        with self._lock:
            return [rule for rule in self._rules if rule.pending]

    def clear(self) -> None:
        """Drop every rule."""
        with self._lock:
            self._rules = []


# --- actions every emulator offers -------------------------------------------------------------


class _Respond(Action):
    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None,
                 content_type: str | None) -> None:
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.content_type = content_type

    def run(self, ctx: Any) -> Reply:
        body, inferred = _encode_body(self.body)
        content_type = self.content_type if self.content_type is not None else inferred
        headers = [(k, str(v)) for k, v in self.headers.items()]
        if content_type is not None:
            headers.insert(0, ("Content-Type", content_type))
        return Reply(self.status, headers, body)


def _encode_body(body: Any) -> tuple[bytes, str | None]:
    if body is None:
        return b"", None
    if isinstance(body, bytes):
        return body, "application/octet-stream"
    if isinstance(body, str):
        return body.encode("utf-8"), "text/plain; charset=utf-8"
    return json.dumps(body).encode("ascii"), "application/json"


class _ProcessThen(Action):
    def __init__(self, then: Action) -> None:
        self.then = then

    def run(self, ctx: Any) -> Reply:
        return self.then.run(_Processed(ctx, ctx.process()))

    def check(self, route: str) -> None:
        self.then.check(route)


class _Processed:
    """A fault context whose request was already handled: ``process()`` gives that
    reply; everything else is the original context's."""

    def __init__(self, ctx: Any, reply: Reply) -> None:
        self.processed_status = reply.status
        self._ctx = ctx
        self._reply = reply

    def process(self, **options: Any) -> Reply:
        return self._reply

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)


class _Reset(Action):
    def run(self, ctx: Any) -> Reply:
        # Only after process_then() was the request handled; a bare reset drops it unread.
        return Reply(0, drop=True, processed_status=getattr(ctx, "processed_status", None))


class _Delay(Action):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def run(self, ctx: Any) -> Reply:
        time.sleep(self.seconds)
        return ctx.process()


class _TruncateBody(Action):
    def __init__(self, keep: int) -> None:
        self.keep = keep

    def run(self, ctx: Any) -> Reply:
        reply = ctx.process()
        if 200 <= reply.status < 300 and len(reply.body) > self.keep:
            reply.truncate = self.keep
        return reply


def respond(status: int, body: Any = None, *, headers: Mapping[str, str] | None = None,
            content_type: str | None = None) -> Action:
    """Answer with this response instead of handling the request (nothing happens).

    :param status: the HTTP status.
    :param body: a dict or list (sent as JSON), a str (text), bytes, or None (empty).
    :param headers: extra response headers.
    :param content_type: the Content-Type; default: ``application/json`` for
        JSON, ``text/plain; charset=utf-8`` for text, ``application/octet-stream``
        for bytes, none for an empty body.
    """
    return _Respond(status, body, headers, content_type)


def process_then(action: Action) -> Action:
    """Handle the request normally (its effect happens), then answer as ``action`` says.

    ``process_then(server_error(503))`` is "a 503 that actually landed";
    ``process_then(reset())`` is :func:`process_then_reset`.
    """
    return _ProcessThen(action)


def process_then_reset() -> Action:
    """Handle the request (its effect happens), then drop the connection
    without a response: the lost response after success."""
    return _ProcessThen(_Reset())


def reset() -> Action:
    """Drop the connection without a response and without handling the request."""
    return _Reset()


#: Another name for :func:`reset` (the name the design notes use).
reset_connection = reset


def delay(seconds: float) -> Action:
    """Sleep ``seconds`` in the server (outside its lock), then handle the request.

    :param seconds: how long; keep it short (a client timeout below it makes a
        slow-response test).
    """
    return _Delay(seconds)


def truncate_body(keep: int) -> Action:
    """Handle the request, then send the full ``Content-Length`` but only ``keep``
    body bytes and close the connection (a truncated download).

    :param keep: how many body bytes to send.
    """
    return _TruncateBody(keep)
