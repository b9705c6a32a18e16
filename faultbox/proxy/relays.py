"""Per-connection relays: the connection object and the tcp-line and PostgreSQL relays.

Each relay reads the client's requests, asks the rule book, and forwards, delays, rewrites,
answers or drops them; the server's bytes go back through :func:`pump` (raw) unless the
protocol needs to count replies (Redis, HTTP: their own modules).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from . import pgwire
from .rules import Fired, Request

CHUNK = 65536


class Conn:
    """One proxied connection: the client's socket, the upstream socket, who and where."""

    def __init__(
        self, hub: Any, interface: str, protocol: str, owner: str, source: str,
        client: socket.socket, upstream: socket.socket | None, address: tuple[str, int],
    ) -> None:  # fmt: skip
        self.hub = hub
        self.interface = interface
        self.protocol = protocol
        self.owner = owner
        self.source = source
        self.client = client
        self._upstream = upstream
        self.address = address  # the real server, for a connection dialled lazily (HTTP)
        self.client_lock = threading.Lock()
        self._closed = False

    def decide(self, request: Request) -> Fired | None:
        request.source = self.source
        return self.hub.book.decide(self.interface, request)

    def emit(self, request: Request, action: str, started_ns: int, **extra: str) -> None:
        self.hub.emit(self, {**request.fields, "action": action, **extra}, started_ns)

    @property
    def upstream(self) -> socket.socket:
        """The socket to the real server (dialled now if it is not yet)."""
        if self._upstream is None:
            up = socket.create_connection(self.address, timeout=5.0)
            up.settimeout(None)
            up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._upstream = up
            if self._closed:
                up.close()
        return self._upstream

    def end_upstream(self) -> None:
        """Close the server's side (it is done with this connection); the next access dials anew."""
        up, self._upstream = self._upstream, None
        if up is not None:
            with contextlib.suppress(OSError):
                up.shutdown(socket.SHUT_RDWR)
            up.close()

    def to_client(self, data: bytes) -> None:
        with self.client_lock:
            self.client.sendall(data)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for s in (self.client, self._upstream):
            if s is None:
                continue
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


def pump(src: socket.socket, send: Callable[[bytes], None], conn: Conn) -> None:
    """Copy ``src`` to ``send`` until EOF; then close the connection."""
    try:
        while True:
            data = src.recv(CHUNK)
            if not data:
                break
            send(data)
    except OSError:
        pass
    finally:
        conn.close()


def back_pump(conn: Conn) -> threading.Thread:
    """The server → client direction, raw, on its own thread."""
    t = threading.Thread(target=pump, args=(conn.upstream, conn.to_client, conn), daemon=True,
                         name="faultbox-proxy-s2c")  # fmt: skip
    t.start()
    return t


def fault_action(fired: Fired | None) -> str:
    return "pass" if fired is None else fired.rule.action


def hold(fired: Fired | None) -> None:
    """A delay rule holds the request before it goes on (this connection only)."""
    if fired is not None and fired.rule.action == "delay":
        time.sleep(fired.rule.delay_ns / 1e9)


# ------------------------------------------------------------------ tcp (line based)


def relay_tcp(conn: Conn) -> None:
    """Lines from the client: delay, drop (close both ends) or duplicate (send twice)."""
    back = back_pump(conn)
    buf = b""
    try:
        while True:
            data = conn.client.recv(CHUNK)
            if not data:
                break
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                started = time.monotonic_ns()
                req = Request("tcp", {"line": line.decode("utf-8", "replace").rstrip("\r")})
                fired = conn.decide(req)
                if fired is not None and fired.rule.action == "drop":
                    conn.emit(req, "drop", started)
                    return
                hold(fired)
                times = 2 if fired is not None and fired.rule.action == "duplicate" else 1
                conn.emit(req, fault_action(fired), started)  # before the server can answer
                conn.upstream.sendall((line + b"\n") * times)
        if buf:
            conn.upstream.sendall(buf)
        with contextlib.suppress(OSError):
            conn.upstream.shutdown(socket.SHUT_WR)
        back.join()
    except OSError:
        pass


# ------------------------------------------------------------------ postgres


def _pg_error(fired: Fired) -> tuple[str, str]:
    rule = fired.rule
    state = rule.status if isinstance(rule.status, str) else pgwire.DEFAULT_SQLSTATE
    return state, rule.message or "faultbox: injected error"


def relay_postgres(conn: Conn) -> None:
    """Start-up packets as they are (TLS → opaque from there on), then typed messages."""
    client, upstream = conn.client, conn.upstream
    buf = bytearray()
    try:
        while True:  # start-up: SSLRequest/GSSENCRequest answered by one byte, then Startup
            got = pgwire.startup_packet(buf)
            if got is None:
                data = client.recv(CHUNK)
                if not data:
                    return
                buf += data
                continue
            code, packet, end = got
            del buf[:end]
            upstream.sendall(packet)
            if code in (pgwire.SSL_REQUEST, pgwire.GSSENC_REQUEST):
                answer = upstream.recv(1)
                if not answer:
                    return
                client.sendall(answer)
                if answer != b"N":  # encrypted from here on: relay without looking
                    _opaque(conn, bytes(buf))
                    return
                continue
            if code == pgwire.CANCEL_REQUEST:
                _opaque(conn, bytes(buf))
                return
            break
        back = back_pump(conn)
        _pg_messages(conn, buf)
        back.join()
    except (OSError, pgwire.WireError):
        pass


def _opaque(conn: Conn, rest: bytes) -> None:
    if rest:
        conn.upstream.sendall(rest)
    back = back_pump(conn)
    pump(conn.client, conn.upstream.sendall, conn)
    back.join()


def _pg_messages(conn: Conn, buf: bytearray) -> None:
    raised: set[str] = set()  # statements replaced by a raising one: their Binds lose params
    while True:
        out = bytearray()
        pos = 0
        while True:
            got = pgwire.message(buf, pos)
            if got is None:
                break
            kind, body, end = got
            raw = bytes(buf[pos:end])
            pos = end
            if kind in (b"Q", b"P"):
                started = time.monotonic_ns()
                name, sql = ("", pgwire.query_text(body)) if kind == b"Q" else \
                    pgwire.parse_fields(body)  # fmt: skip
                req = Request("postgres", {"query": sql})
                fired = conn.decide(req)
                action = fault_action(fired)
                if fired is not None and action == "drop":
                    conn.emit(req, "drop", started)
                    conn.close()  # both ends: the server-side pump ends too
                    return
                if fired is not None and action == "delay":
                    conn.upstream.sendall(out)
                    out.clear()
                    hold(fired)
                if fired is not None and action == "error":
                    state, msg = _pg_error(fired)
                    if kind == b"Q":
                        raw = pgwire.raising_query(state, msg)
                    else:
                        raw = pgwire.raising_parse(body, state, msg)
                        raised.add(name)
                    conn.emit(req, "error", started, status=state, message=msg)
                else:
                    if kind == b"P":
                        raised.discard(name)
                    conn.emit(req, action, started)
            elif kind == b"B" and raised and pgwire.bind_statement(body) in raised:
                raw = pgwire.bind_without_parameters(body)
            out += raw
            if kind == b"X":
                break
        del buf[:pos]
        if out:
            conn.upstream.sendall(out)
        data = conn.client.recv(CHUNK)
        if not data:
            with contextlib.suppress(OSError):
                conn.upstream.shutdown(socket.SHUT_WR)
            return
        buf += data
