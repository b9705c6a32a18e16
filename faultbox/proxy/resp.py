"""Redis RESP framing: client commands (arrays of bulk strings, or inline) and replies.

Only framing is needed: the proxy reads a command's name and first key, and counts the
server's replies so that an injected reply goes out in the right place among pipelined ones.
RESP2 and RESP3 types are both framed. Malformed input raises :class:`RespError`.
"""

from __future__ import annotations

_MAX_BULK = 512 * 1024 * 1024  # Redis' own proto-max-bulk-len default
_MAX_INLINE = 64 * 1024


class RespError(ValueError):
    """The bytes are not RESP."""


def _line(buf: bytes | bytearray, pos: int) -> tuple[bytes, int] | None:
    end = buf.find(b"\r\n", pos)
    if end < 0:
        if len(buf) - pos > _MAX_INLINE:
            raise RespError("line too long")
        return None
    return bytes(buf[pos:end]), end + 2


def _int(text: bytes) -> int:
    try:
        return int(text)
    except ValueError:
        raise RespError(f"bad length {text[:20]!r}") from None


def parse_command(buf: bytes | bytearray, pos: int = 0) -> tuple[list[bytes], int] | None:
    """``(argv, end)`` of the command starting at ``pos``, or None if it is incomplete."""
    if pos >= len(buf):
        return None
    if buf[pos : pos + 1] != b"*":  # inline command: words up to CRLF
        got = _line(buf, pos)
        if got is None:
            return None
        text, end = got
        return text.split(), end
    got = _line(buf, pos + 1)
    if got is None:
        return None
    count, pos = _int(got[0]), got[1]
    if count < 0:
        return [], pos
    argv = []
    for _ in range(count):
        if pos >= len(buf):
            return None
        if buf[pos : pos + 1] != b"$":
            raise RespError("command element is not a bulk string")
        got = _line(buf, pos + 1)
        if got is None:
            return None
        size, pos = _int(got[0]), got[1]
        if not 0 <= size <= _MAX_BULK:
            raise RespError(f"bad bulk length {size}")
        if len(buf) < pos + size + 2:
            return None
        if buf[pos + size : pos + size + 2] != b"\r\n":
            raise RespError("bulk string not terminated by CRLF")
        argv.append(bytes(buf[pos : pos + size]))
        pos += size + 2
    return argv, pos


_SIMPLE = b"+-:_,#("  # one line
_BLOBS = b"$!="  # length-prefixed
_AGGREGATES = b"*~>"  # n elements
_PAIRS = b"%|"  # n key/value pairs


def reply_end(buf: bytes | bytearray, pos: int = 0) -> int | None:
    """The end of the reply starting at ``pos`` (RESP2/RESP3), or None if it is incomplete."""
    stack = [1]  # elements still to read per nesting level
    while stack:
        if pos >= len(buf):
            return None
        kind = buf[pos]
        got = _line(buf, pos + 1)
        if got is None:
            return None
        text, pos = got
        if kind in _SIMPLE:
            pass
        elif kind in _BLOBS:
            size = _int(text)
            if size >= 0:
                if size > _MAX_BULK:
                    raise RespError(f"bad bulk length {size}")
                if len(buf) < pos + size + 2:
                    return None
                pos += size + 2
        elif kind in _AGGREGATES or kind in _PAIRS:
            count = _int(text)
            stack[-1] -= 1
            if kind == ord("|"):  # attributes precede the reply they describe
                stack[-1] += 1
            n = count * (2 if kind in _PAIRS else 1)
            if n > 0:
                stack.append(n)
            while stack and stack[-1] == 0:
                stack.pop()
            continue
        else:
            raise RespError(f"unknown reply type {chr(kind)!r}")
        stack[-1] -= 1
        while stack and stack[-1] == 0:
            stack.pop()
    return pos


def error_reply(message: str) -> bytes:
    """``-ERR message`` (a message starting with an upper-case code keeps it)."""
    text = " ".join(message.split()) or "faultbox injected error"
    first = text.split(" ", 1)[0]
    if not (first.isupper() and first.isalpha()):
        text = f"ERR {text}"
    return f"-{text}\r\n".encode()


def value_reply(value: str | None) -> bytes:
    """A bulk string reply (``None`` → the null bulk string)."""
    if value is None:
        return b"$-1\r\n"
    data = value.encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)
