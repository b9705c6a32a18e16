"""PostgreSQL wire protocol (v3) framing and the rewrites that make the server raise an error.

Client side: the untyped start-up packets (SSLRequest, GSSENCRequest, CancelRequest,
StartupMessage), then typed messages ``type(1) length(4) body``. Server side: typed messages.
To refuse a query the proxy does not fake the server's answers: it replaces the query by a
``DO`` block that raises the wanted SQLSTATE and message, so the server itself sends the
ErrorResponse, ends the transaction's good state and the ReadyForQuery with the right status —
in the simple protocol (``Q``) and the extended one (``Parse``; its ``Bind`` then carries no
parameters).
"""

from __future__ import annotations

import re
import struct

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102
_I32 = struct.Struct("!i")
_I16 = struct.Struct("!h")
_MAX_MESSAGE = 1 << 30
_SQLSTATE = re.compile(r"^[0-9A-Z]{5}$")
DEFAULT_SQLSTATE = "XX000"


class WireError(ValueError):
    """The bytes are not the PostgreSQL protocol."""


def startup_packet(buf: bytes | bytearray) -> tuple[int, bytes, int] | None:
    """``(code, packet, end)`` of the untyped start-up packet at the start, or None."""
    if len(buf) < 8:
        return None
    (length,) = _I32.unpack_from(buf, 0)
    if not 8 <= length <= 10240:
        raise WireError(f"bad start-up packet length {length}")
    if len(buf) < length:
        return None
    (code,) = _I32.unpack_from(buf, 4)
    return code, bytes(buf[:length]), length


def message(buf: bytes | bytearray, pos: int = 0) -> tuple[bytes, bytes, int] | None:
    """``(type, body, end)`` of the typed message at ``pos``, or None if incomplete."""
    if len(buf) - pos < 5:
        return None
    kind = bytes(buf[pos : pos + 1])
    (length,) = _I32.unpack_from(buf, pos + 1)
    if not 4 <= length <= _MAX_MESSAGE:
        raise WireError(f"bad message length {length} (type {kind!r})")
    end = pos + 1 + length
    if len(buf) < end:
        return None
    return kind, bytes(buf[pos + 5 : end]), end


def pack(kind: bytes, body: bytes) -> bytes:
    return kind + _I32.pack(len(body) + 4) + body


def _cstring(body: bytes, pos: int) -> tuple[str, int]:
    end = body.find(b"\0", pos)
    if end < 0:
        raise WireError("string not terminated")
    return body[pos:end].decode("utf-8", "replace"), end + 1


def query_text(body: bytes) -> str:
    """The SQL of a ``Q`` message."""
    return _cstring(body, 0)[0]


def parse_fields(body: bytes) -> tuple[str, str]:
    """``(statement name, SQL)`` of a ``P`` (Parse) message."""
    name, pos = _cstring(body, 0)
    sql, _ = _cstring(body, pos)
    return name, sql


def bind_statement(body: bytes) -> str:
    """The statement name a ``B`` (Bind) message binds."""
    _portal, pos = _cstring(body, 0)
    return _cstring(body, pos)[0]


def raising_sql(sqlstate: str, message: str) -> str:
    """A statement that makes the server raise ``sqlstate`` with ``message``."""
    if not _SQLSTATE.match(sqlstate):
        raise ValueError(f"SQLSTATE must be 5 digits or upper-case letters, got {sqlstate!r}")
    text = message.replace("$", "").replace("\0", "") or "faultbox injected error"
    return (
        "DO $faultbox$ BEGIN RAISE EXCEPTION USING ERRCODE = '"
        + sqlstate
        + "', MESSAGE = $msg$"
        + text
        + "$msg$; END $faultbox$"
    )


def raising_query(sqlstate: str, message: str) -> bytes:
    """A ``Q`` message raising the error."""
    return pack(b"Q", raising_sql(sqlstate, message).encode() + b"\0")


def raising_parse(body: bytes, sqlstate: str, message: str) -> bytes:
    """The ``P`` message ``body`` with its SQL replaced by the raising statement (no types)."""
    name, _ = parse_fields(body)
    sql = raising_sql(sqlstate, message)
    return pack(b"P", name.encode() + b"\0" + sql.encode() + b"\0" + _I16.pack(0))


def bind_without_parameters(body: bytes) -> bytes:
    """The ``B`` message ``body`` for the raising statement: same portal and statement, no
    parameters, text results."""
    portal, pos = _cstring(body, 0)
    stmt, _ = _cstring(body, pos)
    out = portal.encode() + b"\0" + stmt.encode() + b"\0" + _I16.pack(0) + _I16.pack(0)
    return pack(b"B", out + _I16.pack(0))
