"""Shared helpers for the faultbox demo services (pure standard library).

Design notes (they matter to faultbox, which intercepts syscalls with seccomp):

* All socket traffic - line servers, the HTTP servers and the TCP client - goes through
  ``os.read(fd, ...)`` / ``os.write(fd, ...)``, i.e. read(2)/write(2), exactly like the original Go
  binaries (``sock.send``/``recv`` would show up as sendto/recvfrom instead).
* Logging is one JSON object per line on stdout, each line one ``os.write(1, ...)``. A failed
  write (EIO, ENOSPC, EPIPE, ...) of a log line is ignored; a failed reply closes that connection.
  Nothing here ever lets an OSError take a service down.
* Start-up speed: only C-level modules are imported (``_socket``, ``_thread``, ``_signal``,
  ``_struct``, ``_json``) plus ``os``. ``import socket`` alone pulls in enum/selectors/re and
  doubles the interpreter start-up time; the installed executables run ``python -IS``.
"""

import _signal
import _socket
import _struct
import _thread
import os
import sys
import time

try:  # the C accelerator json.encoder uses; fall back to a tiny pure-Python escaper
    from _json import encode_basestring_ascii as _q
except ImportError:  # pragma: no cover - every CPython has _json

    def _q(s):
        out = ['"']
        for ch in s:
            o = ord(ch)
            if ch in '"\\':
                out.append("\\" + ch)
            elif o < 0x20 or o > 0x7E:
                out.append(f"\\u{o:04x}" if o < 0x10000 else ch.encode("unicode_escape").decode())
            else:
                out.append(ch)
        out.append('"')
        return "".join(out)


AF_INET = _socket.AF_INET
AF_INET6 = _socket.AF_INET6
SOCK_STREAM = _socket.SOCK_STREAM
SOL_SOCKET = _socket.SOL_SOCKET

MAX_LINE = 64 * 1024  # bufio.Scanner's default token limit
READ_CHUNK = 4096


# --------------------------------------------------------------------------- logging


def log(level, msg, **fields):
    """Write ``{"level": level, "msg": msg, **fields}`` as one line with one write(2) to fd 1.

    Values are strings or ints. Never raises.
    """
    try:
        parts = ['"level":' + _q(level), '"msg":' + _q(msg)]
        for key, val in fields.items():
            if isinstance(val, int) and not isinstance(val, bool):
                parts.append(_q(key) + ":" + str(val))
            else:
                parts.append(_q(key) + ":" + _q(str(val)))
        os.write(1, ("{" + ",".join(parts) + "}\n").encode("ascii"))
    except Exception:  # noqa: BLE001 - a log line must never kill a service
        pass


def go_err(exc):
    """Error text in the style of Go's syscall.Errno strings ("connection refused")."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]


# --------------------------------------------------------------------------- JSON
# The json package imports re/enum/... (~10 ms of start-up) and importing it lazily would read
# files at request time, when faultbox may be faulting read/openat. The C scanner it is built on
# is used directly instead (with a fallback to the json package where it is missing).


class _ScanContext:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": -1e999, "Infinity": 1e999, "NaN": 1e999 - 1e999}.__getitem__


try:
    from _json import make_scanner as _make_scanner

    _scan = _make_scanner(_ScanContext())
except (ImportError, AttributeError, TypeError):  # pragma: no cover - not CPython
    _scan = None

_WS = " \t\n\r"


def json_loads(text):
    """Parse one JSON document (like json.loads for str input); ValueError if malformed."""
    if _scan is None:  # pragma: no cover
        import json

        return json.loads(text)
    stripped = text.lstrip(_WS)
    start = len(text) - len(stripped)
    try:
        value, end = _scan(text, start)
    except StopIteration as exc:
        raise ValueError(f"Expecting value: char {exc.value}") from None
    except SystemError:
        # Other syntax errors: the C code looks json.decoder.JSONDecodeError up in sys.modules
        # only, finds nothing (json was never imported) and fails without an exception set.
        raise ValueError("invalid JSON") from None
    if text[end:].strip(_WS):
        raise ValueError(f"Extra data: char {end}")
    return value


def json_dumps_flat(obj):
    """Compact JSON for a flat dict of str/int/bool/None values (what the demos answer)."""
    parts = []
    for key, val in obj.items():
        if val is None or isinstance(val, bool):
            enc = "null" if val is None else ("true" if val else "false")
        elif isinstance(val, int):
            enc = str(val)
        else:
            enc = _q(str(val))
        parts.append(_q(key) + ":" + enc)
    return "{" + ",".join(parts) + "}"


# --------------------------------------------------------------------------- raw fd I/O


def write_all(fd, data):
    """write(2) until everything is written; OSError propagates."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class LineReader:
    """Buffered reader over a raw fd using read(2)."""

    __slots__ = ("fd", "buf")

    def __init__(self, fd):
        self.fd = fd
        self.buf = b""

    def readline(self, limit=MAX_LINE):
        """Next line without its ``\\n`` (bytes); a final unterminated line is returned as is;
        None at EOF. ValueError if the line exceeds ``limit``; OSError from read(2) propagates."""
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 1 :]
                return line
            if len(self.buf) > limit:
                raise ValueError("line too long")
            chunk = os.read(self.fd, READ_CHUNK)
            if not chunk:
                line, self.buf = self.buf, b""
                return line or None
            self.buf += chunk

    def read_exact(self, n):
        """Exactly ``n`` bytes; EOFError if the peer closes first."""
        while len(self.buf) < n:
            chunk = os.read(self.fd, max(READ_CHUNK, n - len(self.buf)))
            if not chunk:
                raise EOFError("unexpected EOF")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data


def decode(b):
    return b.decode("utf-8", "surrogateescape")


def encode(s):
    return s.encode("utf-8", "surrogateescape")


# --------------------------------------------------------------------------- config


def env_port(name, default):
    """Port from env ``name`` (Go semantics: empty means default). Exits 1 if invalid."""
    raw = os.environ.get(name) or default
    try:
        port = int(raw)
        if not 0 <= port <= 65535:
            raise ValueError
    except ValueError:
        fatal(f"invalid {name}: {raw!r}")
    return port


def env_str(name, default):
    return os.environ.get(name) or default


def fatal(msg):
    log("ERROR", msg)
    quietly(os.write, 2, (msg + "\n").encode("utf-8", "replace"))
    os._exit(1)


# --------------------------------------------------------------------------- server side

_listeners = []


def _on_term(_signum, _frame):
    for sock in _listeners:
        quietly(sock.close)
    os._exit(0)


def listen(port):
    """Listening socket on all interfaces (dual-stack ``[::]`` like Go's ``:port``; falls back
    to IPv4 ``0.0.0.0``), SO_REUSEADDR, backlog 128."""
    try:
        sock = _socket.socket(AF_INET6, SOCK_STREAM)
        try:
            sock.setsockopt(_socket.IPPROTO_IPV6, _socket.IPV6_V6ONLY, 0)
            sock.setsockopt(SOL_SOCKET, _socket.SO_REUSEADDR, 1)
            sock.bind(("", port))
        except OSError:
            sock.close()
            raise
    except OSError:
        sock = _socket.socket(AF_INET, SOCK_STREAM)
        sock.setsockopt(SOL_SOCKET, _socket.SO_REUSEADDR, 1)
        sock.bind(("", port))
    sock.listen(128)
    return sock


def serve(name, port, conn_handler, **startup_fields):
    """Listen, install SIGTERM/SIGINT (close listeners, exit 0), log ``listening on :PORT`` and
    accept forever; each connection runs ``conn_handler(fd)`` in its own thread and is closed
    afterwards whatever happens."""
    _signal.signal(_signal.SIGTERM, _on_term)
    _signal.signal(_signal.SIGINT, _on_term)
    try:
        sock = listen(port)
    except OSError as exc:
        fatal(f"{name}: listen: {go_err(exc)}")
    _listeners.append(sock)
    log("INFO", f"{name}: listening on :{port}", op="startup", port=str(port), **startup_fields)
    while True:
        try:
            fd, _addr = sock._accept()
        except OSError as exc:  # EMFILE, ECONNABORTED, ...: keep serving
            log("ERROR", f"{name}: accept: {go_err(exc)}", op="accept")
            time.sleep(0.01)
            continue
        try:
            _thread.start_new_thread(_run_conn, (conn_handler, fd))
        except Exception:  # noqa: BLE001 - cannot start a thread: drop this connection
            quietly(os.close, fd)


def quietly(func, *args):
    """``func(*args)``, or None if it raises OSError."""
    try:
        return func(*args)
    except OSError:
        return None


def _run_conn(conn_handler, fd):
    try:
        conn_handler(fd)
    except (OSError, ValueError, EOFError):
        pass  # failed read/reply, oversized line, peer gone: just close the connection
    except Exception as exc:  # noqa: BLE001 - a bug must not kill the service
        log("ERROR", f"internal error: {type(exc).__name__}: {exc}", op="internal")
    finally:
        quietly(os.close, fd)


def line_conn_handler(handle_line):
    """Build a connection handler for a newline-delimited text protocol.

    ``handle_line(text)`` gets the trimmed line and returns the reply (without newline), or None to
    close the connection (QUIT).
    """

    def handler(fd):
        reader = LineReader(fd)
        while True:
            raw = reader.readline()
            if raw is None:
                return
            reply = handle_line(decode(raw).strip())
            if reply is None:
                return
            write_all(fd, encode(reply + "\n"))

    return handler


# --------------------------------------------------------------------------- HTTP server

REASONS = {
    100: "Continue",
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    411: "Length Required",
    413: "Request Entity Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
MAX_BODY = 16 * 1024 * 1024
MAX_HEADERS = 100


class Request:
    __slots__ = ("method", "path", "query", "version", "headers", "body")

    def __init__(self, method, path, query, version, headers, body):
        self.method = method
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
        self.body = body


_HEX = frozenset(b"0123456789abcdefABCDEF")


def _unquote(path):
    """Percent-decoding (like Go's URL.Path); pure, so no import happens at request time."""
    if "%" not in path:
        return path
    pieces = encode(path).split(b"%")
    out = [pieces[0]]
    for piece in pieces[1:]:
        if len(piece) >= 2 and piece[0] in _HEX and piece[1] in _HEX:
            out.append(bytes((int(piece[:2], 16),)) + piece[2:])
        else:
            out.append(b"%" + piece)
    return decode(b"".join(out))


def _read_chunked(reader):
    body = b""
    while True:
        size_line = reader.readline(limit=1024)
        if size_line is None:
            raise EOFError("unexpected EOF in chunked body")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while True:  # trailers until the empty line
                trailer = reader.readline()
                if trailer is None or not trailer.rstrip(b"\r"):
                    return body
        body += reader.read_exact(size)
        if len(body) > MAX_BODY:
            raise ValueError("body too large")
        reader.read_exact(2)  # CRLF after the chunk


def _respond(fd, status, ctype, body, keep_alive, head_only=False):
    if isinstance(body, str):
        body = encode(body)
    head = f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\nContent-Type: {ctype}\r\n"
    if ctype == TEXT:
        head += "X-Content-Type-Options: nosniff\r\n"
    head += f"Content-Length: {len(body)}\r\n"
    if not keep_alive:
        head += "Connection: close\r\n"
    write_all(fd, head.encode("latin-1") + b"\r\n" + (b"" if head_only else body))


def http_conn_handler(route):
    """Build a connection handler for a minimal HTTP/1.x server (keep-alive, Content-Length and
    chunked bodies, ``Expect: 100-continue``). ``route(req)`` returns ``(status, content_type,
    body)``; the whole response goes out in one write(2)."""

    def handler(fd):
        reader = LineReader(fd)
        while True:
            line = reader.readline(limit=8192)
            if line is None:
                return
            line = line.rstrip(b"\r")
            if not line:
                continue  # stray CRLF between requests (RFC 9112 2.2)
            parts = line.decode("latin-1").split(" ")
            if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                _respond(fd, 400, TEXT, "400 Bad Request", False)
                return
            method, target, version = parts
            headers = {}
            while True:
                hline = reader.readline(limit=65536)
                if hline is None:
                    return
                hline = hline.rstrip(b"\r")
                if not hline:
                    break
                if len(headers) >= MAX_HEADERS:
                    _respond(fd, 431, TEXT, "431 Request Header Fields Too Large", False)
                    return
                name, _, value = hline.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            conn_hdr = headers.get("connection", "").lower()
            keep_alive = conn_hdr == "keep-alive" if version == "HTTP/1.0" else conn_hdr != "close"
            if headers.get("expect", "").lower() == "100-continue":
                write_all(fd, b"HTTP/1.1 100 Continue\r\n\r\n")
            try:
                if "chunked" in headers.get("transfer-encoding", "").lower():
                    body = _read_chunked(reader)
                else:
                    length = int(headers.get("content-length") or 0)
                    if length < 0 or length > MAX_BODY:
                        raise ValueError("bad Content-Length")
                    body = reader.read_exact(length) if length else b""
            except ValueError:
                _respond(fd, 400, TEXT, "400 Bad Request", False)
                return
            path, _, query = target.partition("?")
            if path.startswith(("http://", "https://")):  # absolute-form
                path = "/" + path.split("/", 3)[3] if path.count("/") >= 3 else "/"
            req = Request(method, _unquote(path), query, version, headers, body)
            try:
                status, ctype, resp_body = route(req)
            except Exception as exc:  # noqa: BLE001 - a handler bug answers 500, no crash
                log("ERROR", f"internal error: {type(exc).__name__}: {exc}", op="internal")
                status, ctype, resp_body = 500, TEXT, "internal error\n"
            _respond(fd, status, ctype, resp_body, keep_alive, head_only=method == "HEAD")
            if not keep_alive:
                return

    return handler


# --------------------------------------------------------------------------- TCP client


class ClientError(Exception):
    """A failed line request; ``str(exc)`` is a Go-style message. ``no_response`` is True when
    the peer closed the connection without answering."""

    def __init__(self, msg, no_response=False):
        super().__init__(msg)
        self.no_response = no_response


def _timeval(seconds):
    sec = int(seconds)
    return _struct.pack("ll", sec, int((seconds - sec) * 1_000_000))


def _fmt_addr(family, sockaddr):
    host, port = sockaddr[:2]
    return f"[{host}]:{port}" if family == AF_INET6 else f"{host}:{port}"


def _resolve(addr):
    host, sep, port_s = addr.rpartition(":")
    if not sep:
        raise ClientError(f"dial tcp {addr}: address {addr}: missing port in address")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        port = int(port_s)
    except ValueError:
        raise ClientError(f"dial tcp: lookup tcp/{port_s}: unknown port") from None
    if host in ("", "localhost"):
        # Our listeners are dual-stack or IPv4, so loopback IPv4 always reaches them; resolving
        # "localhost" ourselves avoids reading /etc/hosts & co. on every request.
        return [(AF_INET, ("127.0.0.1", port))]
    for family in (AF_INET, AF_INET6):
        try:
            _socket.inet_pton(family, host)
            return [(family, (host, port))]
        except OSError:
            pass
    try:
        infos = _socket.getaddrinfo(host, port, 0, SOCK_STREAM)
    except OSError as exc:
        raise ClientError(f"dial tcp: lookup {host}: {go_err(exc)}") from None
    return [(info[0], info[4]) for info in infos if info[0] in (AF_INET, AF_INET6)]


def _connect(addr, timeout):
    last = None
    for family, sockaddr in _resolve(addr):
        sock = _socket.socket(family, SOCK_STREAM)
        try:
            # A blocking connect(2) honours SO_SNDTIMEO on Linux (EINPROGRESS on expiry), which
            # gives the dial timeout without non-blocking mode + poll.
            sock.setsockopt(SOL_SOCKET, _socket.SO_SNDTIMEO, _timeval(timeout))
            sock.connect(sockaddr)
            return sock, _fmt_addr(family, sockaddr)
        except OSError as exc:
            sock.close()
            reason = "i/o timeout" if isinstance(exc, BlockingIOError | TimeoutError) else None
            last = f"dial tcp {_fmt_addr(family, sockaddr)}: " + (
                reason or "connect: " + go_err(exc)
            )
    raise ClientError(last or f"dial tcp {addr}: no suitable address found")


def line_request(addr, line, connect_prefix="connect: ", connect_timeout=2.0, deadline=5.0):
    """One command over a fresh TCP connection (like the Go demos' ``dbCommand``): dial with a 2 s
    timeout, 5 s read/write deadline, send ``line + "\\n"``, return the first answer line trimmed.

    Raises ClientError: dial failures as ``connect_prefix + "dial tcp …: connect: <reason>"``,
    I/O failures as ``"read tcp …: <reason>"`` / ``"write tcp …"``, EOF without an answer with
    ``no_response=True``.
    """
    try:
        sock, where = _connect(addr, connect_timeout)
    except ClientError as exc:
        raise ClientError(connect_prefix + str(exc)) from None
    fd = sock.fileno()
    try:
        limit = time.monotonic() + deadline
        tv = _timeval(deadline)
        sock.setsockopt(SOL_SOCKET, _socket.SO_SNDTIMEO, tv)
        sock.setsockopt(SOL_SOCKET, _socket.SO_RCVTIMEO, tv)
        try:
            write_all(fd, encode(line + "\n"))
        except OSError as exc:
            reason = "i/o timeout" if isinstance(exc, BlockingIOError) else go_err(exc)
            raise ClientError(f"write tcp {where}: {reason}") from None
        buf = b""
        while b"\n" not in buf:
            if time.monotonic() > limit:
                raise ClientError(f"read tcp {where}: i/o timeout")
            try:
                chunk = os.read(fd, READ_CHUNK)
            except OSError as exc:
                reason = "i/o timeout" if isinstance(exc, BlockingIOError) else go_err(exc)
                raise ClientError(f"read tcp {where}: {reason}") from None
            if not chunk:
                if buf.strip():
                    break  # a final unterminated line still counts (bufio.Scanner semantics)
                raise ClientError("no response", no_response=True)
            buf += chunk
            if len(buf) > MAX_LINE:
                raise ClientError(f"read tcp {where}: token too long")
        return decode(buf.split(b"\n", 1)[0]).strip()
    finally:
        sock.close()


def run_main(main):
    """Run ``main()``; a stray exception at start-up exits 1 with a log line (not a traceback
    on a possibly broken stderr)."""
    try:
        main()
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001
        fatal(f"fatal: {type(exc).__name__}: {exc}")
    sys.exit(0)
