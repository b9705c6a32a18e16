"""recv-api: an HTTP front end of mock-db that receives with recvfrom(2), never read(2).

Like CPython clients in general (``socket.recv``) and libpq: a connection-reset fault on the
read family alone never fires on it. Env: PORT, DB_ADDR (host:port of a mock-db).

  GET /health      -> 200 ok
  GET /data/<key>  -> 200 <mock-db's answer to "GET key"> | 500 db error: <reason>
"""

import os
import socket

PORT = int(os.environ["PORT"])
DB_HOST, _, DB_PORT = os.environ["DB_ADDR"].rpartition(":")


def receive_line(sock: socket.socket) -> bytes:
    buf = b""
    while b"\n" not in buf:
        chunk = sock.recv(4096)  # recvfrom(2)
        if not chunk:
            break
        buf += chunk
    return buf.split(b"\n", 1)[0]


def db_get(key: str) -> str:
    host = "127.0.0.1" if DB_HOST in ("", "localhost") else DB_HOST
    with socket.create_connection((host, int(DB_PORT)), timeout=5) as sock:
        sock.sendall(f"GET {key}\n".encode())
        return receive_line(sock).decode()


def answer(path: str) -> tuple[int, str]:
    if path == "/health":
        return 200, "ok"
    if path.startswith("/data/"):
        try:
            return 200, db_get(path[len("/data/") :])
        except OSError as exc:
            return 500, f"db error: {exc}"
    return 404, "not found"


def serve() -> None:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", PORT))
    srv.listen(16)
    while True:
        conn, _ = srv.accept()
        with conn:
            try:
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = conn.recv(4096)  # recvfrom(2)
                    if not chunk:
                        break
                    request += chunk
                words = request.split(b"\r\n", 1)[0].decode().split()
                status, body = answer(words[1] if len(words) > 1 else "/")
                conn.sendall(
                    f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n"
                    f"Connection: close\r\n\r\n{body}".encode()
                )
            except OSError:
                pass  # a faulted receive: drop this connection, keep serving


if __name__ == "__main__":
    serve()
