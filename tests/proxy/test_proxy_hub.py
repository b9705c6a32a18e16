"""The proxy hub on its own: HTTP through h11 against an HTTP/1.0 server (Python's
http.server, in a thread on an ephemeral port), keep-alive clients, answers, drops."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from faultbox.proxy import ProtocolRule, ProxyHub, RuleBook


class _Stock(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = b"42"
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def hub_port() -> Iterator[tuple[RuleBook, int, list[dict[str, str]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stock)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    events: list[dict[str, str]] = []
    book = RuleBook()
    hub = ProxyHub(book, lambda owner, fields: events.append({"owner": owner, **fields}))
    port = hub.listen("stock.api", "http", "stock", server.server_address[1])[socket.AF_INET]
    try:
        yield book, port, events
    finally:
        hub.close()
        server.shutdown()
        server.server_close()


def test_http10_server_keepalive_client_error_and_response(
    hub_port: tuple[RuleBook, int, list[dict[str, str]]],
) -> None:
    book, port, events = hub_port
    url = f"http://127.0.0.1:{port}/stock"
    with httpx.Client(timeout=10) as client:
        assert client.get(url).text == "42"
        handle = book.add("stock.api", [
            ProtocolRule("error", criteria=(("method", "POST"),), status=503, message="down"),
            ProtocolRule("response", criteria=(("path", "/stock*"),), status=200, body="7"),
        ])  # fmt: skip
        for _ in range(3):  # the same keep-alive connection: each request decided
            assert client.get(url).text == "7"
        r = client.post(url, content=b"x")
        assert (r.status_code, r.text) == (503, "down")
        book.remove(handle)
        assert client.get(url).text == "42"
    assert handle.hits == [1, 3]
    actions = [e["action"] for e in events]
    assert actions == ["pass", "response", "response", "response", "error", "pass"]
    assert {e["owner"] for e in events} == {"stock"}
    assert all(e["client"] == "test" for e in events)


def test_http_drop_closes_the_connection(
    hub_port: tuple[RuleBook, int, list[dict[str, str]]],
) -> None:
    book, port, events = hub_port
    book.add("stock.api", [ProtocolRule("drop")])
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"http://127.0.0.1:{port}/stock", timeout=10)
    assert events[-1]["action"] == "drop"


def _line_server(received: list[bytes]) -> tuple[socket.socket, threading.Thread]:
    """A line server on an ephemeral port: answers every line with ``ok <line>``."""
    srv = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as lines:
                for line in lines:
                    received.append(line)
                    conn.sendall(b"ok " + line)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return srv, t


def test_tcp_lines_duplicate_delay_drop() -> None:
    received: list[bytes] = []
    srv, _ = _line_server(received)
    events: list[dict[str, str]] = []
    book = RuleBook()
    hub = ProxyHub(book, lambda owner, fields: events.append(fields))
    port = hub.listen("echo.main", "tcp", "echo", srv.getsockname()[1])[socket.AF_INET]
    try:
        dup = book.add("echo.main", [ProtocolRule("duplicate")])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            c.sendall(b"hello\n")
            got = b""
            while got.count(b"\n") < 2:
                got += c.recv(100)
        assert got == b"ok hello\nok hello\n" and received == [b"hello\n", b"hello\n"]
        book.remove(dup)
        book.add("echo.main", [ProtocolRule("drop")])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            c.sendall(b"bye\n")
            assert c.recv(100) == b""  # closed without an answer
        assert received == [b"hello\n", b"hello\n"]
        assert [e["action"] for e in events] == ["duplicate", "drop"]
    finally:
        hub.close()
        srv.close()


def test_http_answered_requests_hold_no_server_connection() -> None:
    """A keep-alive client whose requests the proxy answers must not occupy the server (a
    one-at-a-time server would then never serve anyone else)."""
    upstream = socket.create_server(("127.0.0.1", 0))  # nobody accepts: we look ourselves
    book = RuleBook()
    hub = ProxyHub(book, lambda owner, fields: None)
    port = hub.listen("stock.api", "http", "stock", upstream.getsockname()[1])[socket.AF_INET]
    book.add("stock.api", [ProtocolRule("response", status=200, body="7")])
    try:
        with httpx.Client(timeout=10) as client:
            assert client.get(f"http://127.0.0.1:{port}/stock").text == "7"
            assert client.get(f"http://127.0.0.1:{port}/other").text == "7"
            upstream.settimeout(1.0)  # only bounds a wait for a connection that must not come
            with pytest.raises(TimeoutError):
                upstream.accept()
    finally:
        hub.close()
        upstream.close()
