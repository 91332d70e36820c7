"""A slow link on loopback: a TCP proxy that limits the rate and adds delay, per direction.

``sync_bench.py`` puts it between the device's client and the edge to play a
slow uplink (the issue's 1 Mbit/s up, 40 ms round trip) without root, network
namespaces or ``tc netem``::

    with Shaper(("127.0.0.1", edge_port), up_bps=1_000_000, rtt=0.040) as link:
        client = EdgeClient(f"https://127.0.0.1:{link.port}", token, fingerprint=pin)

The proxy listens on ``127.0.0.1:0`` (:attr:`Shaper.port` is the port it got)
and opens one connection to the target per accepted connection. It never
looks inside the bytes, so TLS passes through end to end and the pinned
certificate is the edge's own.

**The model.** Each direction of each connection is a *pump* of two threads:

- the *reader* takes bytes off the source socket as they come, cuts them in
  slices of at most :data:`SLICE` bytes (an Ethernet MTU) and stamps each
  slice with its arrival time;
- the *writer* sends each slice on when the link would have delivered it::

      done = max(done, arrival) + 8 * len(slice) / rate    # serialisation
      deliver at  done + delay                            # propagation

  That is a token bucket one slice deep (the link never bursts faster than
  its rate) followed by a fixed one-way delay of ``rtt / 2``, the way a
  serialising link and ``netem rate ... delay ...`` behave. Times come from
  the ideal schedule, not from when the previous send really happened, so
  the writer's sleep overshoots do not add up over a long transfer.

Between reader and writer sits a bounded queue (:data:`QUEUE_BYTES`), the
link's buffer: when it is full the reader stops reading and the sender's TCP
window closes, so a large upload is paced by the link as it would be on a
real one, and the sender's progress follows the link.

**What a proxy cannot see, and how it is made up for.** The client's TCP
handshake ends at the proxy, on loopback, at once; over a real link the first
data byte could leave only after SYN and SYN-ACK, one round trip. So each
connection's uplink starts ``rtt`` after it was accepted (:attr:`Shaper.handshake`,
on by default). TCP's slow start and ACK clocking over the long path are not
modelled: at 1 Mbit/s and 40 ms the path holds 5 KB, less than TCP's initial
window of 10 segments, so the window is never what limits a transfer here.

**Half-close and shutdown.** End of stream travels like data: when the reader
sees EOF, the writer shuts down the write side of the other socket once the
bytes before it are delivered, and the opposite direction goes on (an HTTP
client may close its side and still read the answer). A connection is closed
when both directions are done, or at once when either socket fails.
:meth:`Shaper.stop` closes the listener and every open connection and joins
the threads. Connections are independent, so many sequential (or concurrent)
ones work.

Run ``python benchmarks/sync_bench.py --selftest`` to measure the link the
proxy makes (rate up and down, round trip) against what was asked.
"""

from __future__ import annotations

import collections
import socket
import threading
import time
from collections.abc import Callable
from typing import Self

__all__ = ["QUEUE_BYTES", "SLICE", "Shaper"]

#: The largest piece released at once: one Ethernet frame's payload, so that
#: even a 1 Mbit/s link (12 ms per slice) delivers smoothly, not in bursts.
SLICE = 1500

#: Bytes a pump holds before it stops reading (the link's buffer). 64 KB is
#: about half a second at 1 Mbit/s: a moderately bloated home router.
QUEUE_BYTES = 64 * 1024

_EOF = b""


class _Pump:
    """One direction of one connection: read, stamp, and release at the link's pace."""

    def __init__(self, name: str, source: socket.socket, dest: socket.socket, *,
                 bps: float | None, delay: float, start_at: float,
                 on_done: Callable[..., None], on_bytes: Callable[[str, int], None]) -> None:
        self.name = name
        self.source, self.dest = source, dest
        self.seconds_per_byte = 8.0 / bps if bps else 0.0
        self.delay = delay
        self.start_at = start_at  # the link is not free before this (the TCP handshake)
        self.on_done, self.on_bytes = on_done, on_bytes
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.queued = 0
        self.cond = threading.Condition()
        self.closed = False
        self.threads = [threading.Thread(target=self._read, name=f"{name}-read", daemon=True),
                        threading.Thread(target=self._write, name=f"{name}-write", daemon=True)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def close(self) -> None:
        """Stop both threads (the sockets are closed by the connection)."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def _read(self) -> None:
        try:
            while True:
                data = self.source.recv(65536)
                arrival = time.monotonic()
                self.on_bytes(self.name, len(data))
                slices = ([data[i:i + SLICE] for i in range(0, len(data), SLICE)]
                          if data else [_EOF])
                with self.cond:
                    for piece in slices:
                        # The link's buffer is full: wait, so the sender is held back.
                        while self.queued >= QUEUE_BYTES and not self.closed:
                            self.cond.wait()
                        if self.closed:
                            return
                        self.queue.append((arrival, piece))
                        self.queued += len(piece)
                        self.cond.notify_all()
                if not data:
                    return
        except OSError:
            self._fail()

    def _write(self) -> None:
        done = self.start_at  # when the link finished serialising the previous slice
        try:
            while True:
                with self.cond:
                    while not self.queue and not self.closed:
                        self.cond.wait()
                    if self.closed:
                        return
                    arrival, piece = self.queue[0]
                done = max(done, arrival) + len(piece) * self.seconds_per_byte
                wait = done + self.delay - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                with self.cond:
                    self.queue.popleft()
                    self.queued -= len(piece)
                    self.cond.notify_all()
                if not piece:  # end of stream, delivered after the bytes before it
                    self.dest.shutdown(socket.SHUT_WR)  # half-close, as the sender did
                    self.on_done(self, failed=False)
                    return
                self.dest.sendall(piece)
        except OSError:
            self._fail()

    def _fail(self) -> None:
        self.on_done(self, failed=True)


class _Connection:
    """A client socket, its socket to the target, and the two pumps between them."""

    def __init__(self, shaper: Shaper, client: socket.socket, accepted: float) -> None:
        self.shaper = shaper
        self.client = client
        self.upstream = socket.create_connection(shaper.target)
        for sock in (client, self.upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start_up = accepted + (shaper.rtt if shaper.handshake else 0.0)
        self.lock = threading.Lock()
        self.finished: set[str] = set()
        self.closed = False
        self.up = _Pump("up", client, self.upstream, bps=shaper.up_bps,
                        delay=shaper.rtt / 2, start_at=start_up, on_done=self._pump_done,
                        on_bytes=shaper._count)
        self.down = _Pump("down", self.upstream, client, bps=shaper.down_bps,
                          delay=shaper.rtt / 2, start_at=accepted, on_done=self._pump_done,
                          on_bytes=shaper._count)

    def start(self) -> None:
        self.up.start()
        self.down.start()

    def _pump_done(self, pump: _Pump, *, failed: bool) -> None:
        with self.lock:
            self.finished.add(pump.name)
            over = failed or len(self.finished) == 2
        if over:
            self.close()

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
        self.up.close()
        self.down.close()
        for sock in (self.client, self.upstream):
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a reader blocked in recv()
            except OSError:
                pass
            sock.close()
        self.shaper._forget(self)


class Shaper:
    """A rate-limiting, delaying TCP proxy on loopback.

    :param target: ``(host, port)`` to forward to.
    :param up_bps: client-to-target rate in bits per second (``None``: unlimited).
    :param down_bps: target-to-client rate in bits per second (``None``: unlimited).
        The default, 10 Mbit/s, is an asymmetric access link's downlink; it
        hardly matters here, since the edge answers with a TLS handshake
        flight and a few hundred bytes of JSON.
    :param rtt: round-trip time in seconds; each direction delays by half.
    :param handshake: start each connection's uplink one ``rtt`` late, the
        round trip of the TCP handshake the proxy answers locally.
    """

    def __init__(self, target: tuple[str, int], *, up_bps: float | None = 1_000_000,
                 down_bps: float | None = 10_000_000, rtt: float = 0.040,
                 handshake: bool = True) -> None:
        self.target = target
        self.up_bps, self.down_bps = up_bps, down_bps
        self.rtt, self.handshake = rtt, handshake
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[_Connection] = set()
        self._lock = threading.Lock()
        self._stopping = False
        #: Connections accepted so far (to check that a client reused or renewed them).
        self.accepted = 0
        #: Bytes carried so far, client to target (``"up"``) and back (``"down"``):
        #: everything on the wire above TCP, TLS records and HTTP headers included.
        self.carried = {"up": 0, "down": 0}

    @property
    def port(self) -> int:
        """The port the proxy listens on (127.0.0.1)."""
        assert self._listener is not None, "start() the shaper first"
        return self._listener.getsockname()[1]

    def start(self) -> Self:
        """Listen on 127.0.0.1:0 and start accepting; returns ``self``."""
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self._thread = threading.Thread(target=self._accept, name="shaper-accept", daemon=True)
        self._thread.start()
        return self

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed: stop()
            accepted = time.monotonic()
            try:
                connection = _Connection(self, client, accepted)
            except OSError:
                client.close()  # the target refused: so does the proxy
                continue
            with self._lock:
                if self._stopping:
                    connection.close()
                    return
                self._connections.add(connection)
                self.accepted += 1
            connection.start()

    def _count(self, direction: str, size: int) -> None:
        with self._lock:
            self.carried[direction] += size

    def _forget(self, connection: _Connection) -> None:
        with self._lock:
            self._connections.discard(connection)

    def stop(self) -> None:
        """Stop listening, close every open connection, join the threads."""
        with self._lock:
            self._stopping = True
            connections = list(self._connections)
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept() (close() alone may not).
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
        if self._thread is not None:
            self._thread.join(5)
        for connection in connections:
            connection.close()
        for connection in connections:
            for thread in connection.up.threads + connection.down.threads:
                if thread is not threading.current_thread():
                    thread.join(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
