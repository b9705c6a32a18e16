"""The HTTP/1.1 relay, on h11: each request is read whole, decided, then answered by the proxy
(error/response), dropped, delayed or passed to the server, whose response is relayed back."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import h11

from .relays import CHUNK, Conn, fault_action, hold
from .rules import Request

_REASONS = {200: b"OK", 404: b"Not Found", 429: b"Too Many Requests", 500: b"Internal Server Error",
            502: b"Bad Gateway", 503: b"Service Unavailable", 504: b"Gateway Timeout"}  # fmt: skip


def _next(parser: h11.Connection, sock: Any) -> Any:
    """The next h11 event, reading from ``sock`` as needed (None: the peer closed)."""
    while True:
        event = parser.next_event()
        if event is h11.NEED_DATA:
            data = sock.recv(CHUNK)
            parser.receive_data(data)
            if not data and parser.their_state is not h11.DONE:
                event = parser.next_event()
                if event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
                    return None
                return event
            continue
        if isinstance(event, h11.ConnectionClosed):
            return None
        return event


def _message(parser: h11.Connection, sock: Any, first: Any) -> list[Any] | None:
    """``first`` and the Data events up to EndOfMessage."""
    events = [first]
    while True:
        event = _next(parser, sock)
        if event is None:
            return None
        events.append(event)
        if isinstance(event, h11.EndOfMessage):
            return events


def relay_http(conn: Conn) -> None:
    server_side = h11.Connection(h11.SERVER)  # speaks to the client
    client_side = h11.Connection(h11.CLIENT)  # speaks to the real server
    try:
        while True:
            first = _next(server_side, conn.client)
            if not isinstance(first, h11.Request):
                return
            request = _message(server_side, conn.client, first)
            if request is None:
                return
            started = time.monotonic_ns()
            req = Request("http", {"method": first.method.decode(),
                                   "path": first.target.decode("utf-8", "replace")})  # fmt: skip
            fired = conn.decide(req)
            action = fault_action(fired)
            if fired is not None and action == "drop":
                conn.emit(req, "drop", started)
                return
            # Each event is emitted before the client gets its answer: once a step has its
            # response, the trace has the event.
            if fired is not None and action in ("error", "response"):
                note = functools.partial(_note, conn, req, action, started)
                _answer(conn, server_side, fired.rule, action, note)
            else:
                hold(fired)
                note = functools.partial(_note, conn, req, action, started)
                forwarded = _forward(conn, server_side, client_side, request, note)
                if forwarded is None:
                    return
            if server_side.our_state is h11.MUST_CLOSE:
                return  # the client asked to close (or spoke HTTP/1.0): this connection ends
            server_side.start_next_cycle()
            if h11.MUST_CLOSE in (client_side.our_state, client_side.their_state):
                # The server closes after answering (HTTP/1.0), but the client was answered in
                # HTTP/1.1 keep-alive and may already have sent its next request on this
                # connection: keep it, and dial the server again for the next forwarded one.
                conn.end_upstream()
                client_side = h11.Connection(h11.CLIENT)
            elif client_side.our_state is h11.DONE and client_side.their_state is h11.DONE:
                client_side.start_next_cycle()
    except (OSError, h11.ProtocolError):
        return


def _note(conn: Conn, req: Request, action: str, started: int, status: int) -> None:
    conn.emit(req, action, started, status=str(status))


def _answer(
    conn: Conn, server_side: h11.Connection, rule: Any, action: str, before: Callable[[int], None]
) -> int:
    status = rule.status if isinstance(rule.status, int) else (503 if action == "error" else 200)
    body = rule.body or rule.message or ("faultbox injected error" if action == "error" else "")
    data = body.encode()
    headers = [("content-type", "text/plain; charset=utf-8"), ("content-length", str(len(data)))]
    reason = _REASONS.get(status, b"")
    out = server_side.send(h11.Response(status_code=status, headers=headers, reason=reason))
    out = (out or b"") + (server_side.send(h11.Data(data=data)) or b"") if data else out or b""
    out += server_side.send(h11.EndOfMessage()) or b""
    before(status)
    conn.to_client(out)
    return status


def _forward(
    conn: Conn, server_side: h11.Connection, client_side: h11.Connection, request: list[Any],
    before: Callable[[int], None],
) -> int | None:  # fmt: skip
    out = b"".join(client_side.send(e) or b"" for e in request)
    conn.upstream.sendall(out)
    first = _next(client_side, conn.upstream)
    while isinstance(first, h11.InformationalResponse):
        info = h11.InformationalResponse(status_code=first.status_code, headers=first.headers,
                                         reason=first.reason)  # fmt: skip
        conn.to_client(server_side.send(info) or b"")
        first = _next(client_side, conn.upstream)
    if not isinstance(first, h11.Response):
        return None
    response = _message(client_side, conn.upstream, first)
    if response is None:
        return None
    # h11 only writes HTTP/1.1: an HTTP/1.0 server's answer is re-framed for the client
    head = h11.Response(status_code=first.status_code, headers=first.headers, reason=first.reason)
    before(int(first.status_code))
    conn.to_client(b"".join(server_side.send(e) or b"" for e in [head, *response[1:]]))
    return int(first.status_code)
