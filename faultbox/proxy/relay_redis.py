"""The Redis relay: commands are decided one by one; replies are counted so that an injected
reply (an error, a value) reaches the client after the server's replies to the commands
pipelined before it."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import deque

from . import resp
from .relays import CHUNK, Conn, fault_action, hold
from .rules import Request

# After these the server pushes messages nobody asked for: stop counting, relay as is.
_PUSH_MODE = frozenset({b"SUBSCRIBE", b"PSUBSCRIBE", b"SSUBSCRIBE", b"MONITOR"})


class _Pending:
    """In order: commands the server will answer (a Request) and injected replies (bytes)."""

    def __init__(self) -> None:
        self.items: deque[tuple[Request, int, str] | bytes] = deque()
        self.lock = threading.Lock()
        self.opaque = False


def relay_redis(conn: Conn) -> None:
    pending = _Pending()
    back = threading.Thread(target=_replies, args=(conn, pending), daemon=True,
                            name="faultbox-proxy-s2c")  # fmt: skip
    back.start()
    buf = bytearray()
    try:
        while True:
            data = conn.client.recv(CHUNK)
            if not data:
                break
            buf += data
            if pending.opaque:
                conn.upstream.sendall(buf)
                buf.clear()
                continue
            out = bytearray()
            pos = 0
            while not pending.opaque:
                got = resp.parse_command(buf, pos)
                if got is None:
                    break
                argv, end = got
                raw = bytes(buf[pos:end])
                pos = end
                if not argv:
                    out += raw
                    continue
                name = argv[0].upper()
                fields = {"command": name.decode("utf-8", "replace")}
                if len(argv) > 1:
                    fields["key"] = argv[1].decode("utf-8", "replace")
                req = Request("redis", fields)
                started = time.monotonic_ns()
                fired = conn.decide(req)
                action = fault_action(fired)
                if fired is not None and action == "drop":
                    conn.emit(req, "drop", started)
                    return
                if fired is not None and action in ("error", "response"):
                    rule = fired.rule
                    reply = resp.error_reply(rule.message or "faultbox injected error") \
                        if action == "error" else resp.value_reply(rule.value)  # fmt: skip
                    if out:
                        conn.upstream.sendall(out)
                        out.clear()
                    # the event first: once the client has its answer, the trace has the event
                    conn.emit(req, action, started, message=rule.message or "")
                    with pending.lock:
                        if pending.items:
                            pending.items.append(reply)
                        else:
                            conn.to_client(reply)
                    continue
                if fired is not None:  # delay: what came before goes now, this one later
                    if out:
                        conn.upstream.sendall(out)
                        out.clear()
                    hold(fired)
                with pending.lock:
                    pending.items.append((req, started, action))
                    if name in _PUSH_MODE:
                        pending.opaque = True
                out += raw
            out += buf[pos:] if pending.opaque else b""
            del buf[: len(buf) if pending.opaque else pos]
            if out:
                conn.upstream.sendall(out)
        with contextlib.suppress(OSError):
            conn.upstream.shutdown(socket.SHUT_WR)
        back.join()
    except (OSError, resp.RespError):
        pass


def _replies(conn: Conn, pending: _Pending) -> None:
    """Server → client: each complete reply answers the oldest forwarded command."""
    buf = bytearray()
    try:
        while True:
            data = conn.upstream.recv(CHUNK)
            if not data:
                break
            buf += data
            out = bytearray()
            pos = 0
            with pending.lock:
                while not pending.opaque or pending.items:
                    end = resp.reply_end(buf, pos)
                    if end is None:
                        break
                    out += buf[pos:end]
                    pos = end
                    head = pending.items.popleft() if pending.items else None
                    if isinstance(head, tuple):
                        req, started, action = head
                        conn.emit(req, action, started)
                    while pending.items and isinstance(pending.items[0], bytes):
                        injected = pending.items.popleft()
                        assert isinstance(injected, bytes)
                        out += injected
                if pending.opaque and not pending.items:
                    out += buf[pos:]
                    pos = len(buf)
                del buf[:pos]
                if out:
                    conn.to_client(bytes(out))
    except (OSError, resp.RespError):
        pass
    finally:
        conn.close()
