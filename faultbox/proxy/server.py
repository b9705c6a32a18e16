"""The proxy hub: one listener per proxied interface, a relay per connection.

Services reach the hub without knowing it: the supervisor hands them a socket already
connected to the interface's listener (``intercept.redirect``) and calls :meth:`ProxyHub.expect`
with that socket's local port first, so the hub knows which service connected and where it
meant to go. Faultbox's own steps dial :meth:`ProxyHub.port_for` directly (source ``test``).
Every request decided here becomes one ``proxy`` event through ``on_event``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .relay_http import relay_http
from .relay_redis import relay_redis
from .relays import Conn, relay_postgres, relay_tcp
from .rules import RuleBook

_DIAL_TIMEOUT_S = 5.0
_RESET = b"\1\0\0\0\0\0\0\0"  # SO_LINGER on, 0 s: close() sends RST
EventSink = Callable[[str, dict[str, str]], None]
RELAYS: dict[str, Callable[[Conn], None]] = {
    "http": relay_http, "redis": relay_redis, "postgres": relay_postgres, "tcp": relay_tcp,
}  # fmt: skip


@dataclass
class _Listener:
    interface: str
    protocol: str
    owner: str
    upstream: tuple[str, int]
    socks: list[socket.socket]
    ports: dict[int, int]  # address family -> listening port


class ProxyHub:
    """Listeners and relays of one test (see the module docstring)."""

    def __init__(self, book: RuleBook, on_event: EventSink) -> None:
        self.book = book
        self.on_event = on_event
        self._listeners: dict[str, _Listener] = {}
        self._expected: dict[int, tuple[str, socket.socket]] = {}
        self._lock = threading.Lock()
        self._conns: set[Conn] = set()
        self._threads: list[threading.Thread] = []
        self._closed = False

    def listen(self, interface: str, protocol: str, owner: str, port: int) -> dict[int, int]:
        """Start the listener of ``interface`` (``service.iface``, real server on ``port``);
        return {address family: proxy port}."""
        with self._lock:
            known = self._listeners.get(interface)
            if known is not None:
                return known.ports
        socks: list[socket.socket] = []
        ports: dict[int, int] = {}
        for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            try:
                s = socket.socket(family, socket.SOCK_STREAM)
                s.bind((host, 0))
                s.listen(128)
            except OSError:
                continue  # no IPv6 loopback here: IPv6 clients then go straight to the server
            socks.append(s)
            ports[family] = s.getsockname()[1]
        lst = _Listener(interface, protocol, owner, ("127.0.0.1", port), socks, ports)
        with self._lock:
            self._listeners[interface] = lst
        for s in socks:
            t = threading.Thread(target=self._accept, args=(lst, s), daemon=True,
                                 name=f"faultbox-proxy-{interface}")  # fmt: skip
            t.start()
            self._threads.append(t)
        return ports

    def port_for(self, interface: str) -> int | None:
        """The IPv4 proxy port of ``interface`` (None: not proxied)."""
        lst = self._listeners.get(interface)
        return lst.ports.get(socket.AF_INET) if lst is not None else None

    def expect(self, local_port: int, source: str, upstream: socket.socket) -> None:
        """The next connection from ``local_port`` is ``source``'s; ``upstream`` is already
        connected to the server it meant to reach (the hub owns it from now on)."""
        with self._lock:
            self._expected[local_port] = (source, upstream)

    def _accept(self, lst: _Listener, sock: socket.socket) -> None:
        while True:
            try:
                client, peer = sock.accept()
            except OSError:
                return  # closed
            with self._lock:
                source, upstream = self._expected.pop(peer[1], ("test", None))
            t = threading.Thread(target=self._serve, args=(lst, client, source, upstream),
                                 daemon=True, name="faultbox-proxy-conn")  # fmt: skip
            t.start()

    def _serve(
        self, lst: _Listener, client: socket.socket, source: str, upstream: socket.socket | None
    ) -> None:
        # A step of the test driver: dial the server now — except HTTP, which dials on the
        # first request it forwards (Conn.upstream): a keep-alive client whose requests the
        # proxy answers itself must not hold a connection of a one-at-a-time server.
        if upstream is None and lst.protocol != "http":
            try:
                upstream = socket.create_connection(lst.upstream, timeout=_DIAL_TIMEOUT_S)
                upstream.settimeout(None)
            except OSError:
                # The server refuses: the client must see a reset, not an answer.
                with contextlib.suppress(OSError):
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
                client.close()
                return
        for s in (client, upstream):
            if s is not None:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Conn(self, lst.interface, lst.protocol, lst.owner, source, client, upstream,
                    lst.upstream)  # fmt: skip
        with self._lock:
            if self._closed:
                conn.close()
                return
            self._conns.add(conn)
        try:
            RELAYS[lst.protocol](conn)
        finally:
            conn.close()
            with self._lock:
                self._conns.discard(conn)

    def emit(self, conn: Conn, fields: dict[str, str], started_ns: int) -> None:
        """One ``proxy`` event for a request of ``conn``."""
        ms = (time.monotonic_ns() - started_ns) / 1e6
        out = {"client": conn.source, "interface": conn.interface.split(".", 1)[-1],
               "protocol": conn.protocol, **fields, "latency_ms": f"{ms:.3f}"}  # fmt: skip
        self.on_event(conn.owner, out)

    def close(self) -> None:
        """Close the listeners and every open connection."""
        with self._lock:
            self._closed = True
            conns = list(self._conns)
            listeners = list(self._listeners.values())
        for lst in listeners:
            for s in lst.socks:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
        for conn in conns:
            conn.close()
        with self._lock:
            unclaimed = [up for _, up in self._expected.values()]
            self._expected.clear()
        for up in unclaimed:  # redirected connects whose proxy side never arrived
            up.close()
        for t in self._threads:
            t.join(2.0)
