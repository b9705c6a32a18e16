"""PostgreSQL steps: ``db.main.query(sql=…)`` → rows, ``db.main.exec(sql=…)`` → rows affected.

Each step opens its own connection (libpq over TCP to 127.0.0.1:<port>, autocommit), so a
fault on the server shows up in that step and nothing is left open at teardown. User, database
and password come from the service's env (``POSTGRES_USER``/``POSTGRES_DB``/``POSTGRES_PASSWORD``,
defaults ``postgres``/``postgres``/none), or ``database=`` / ``user=`` on the step.
A connection refused because the server is still starting (or replaying its WAL after a
crash) is retried until the step timeout: a ``tcp()`` healthcheck passes before that.

``query`` → ``Response`` whose ``.data`` is a list of rows, each a dict column → value
(numbers, strings, bools, None; dates and other types as text). ``exec`` → ``.data`` =
``{"rows_affected": n, "status": "INSERT 0 1"}``.
"""

from __future__ import annotations

import datetime
import decimal
import time
from typing import Any

from faultbox.starlark_env.step_methods import register_handlers
from faultbox.starlark_env.values import InterfaceRef, Response

from ._common import STEP_TIMEOUT_S, Timer, arg_str, no_answer, ok, server_error, where


def _conninfo(iface: InterfaceRef, kwargs: dict[str, Any], place: str) -> dict[str, Any]:
    env = iface.service.env
    info = {
        "host": "127.0.0.1",
        "port": iface.port,
        "user": arg_str(kwargs, "user", place)
        or env.get("POSTGRES_USER")
        or env.get("PGUSER")
        or "postgres",
        "dbname": arg_str(kwargs, "database", place)
        or env.get("POSTGRES_DB")
        or env.get("PGDATABASE")
        or "postgres",
        "connect_timeout": int(STEP_TIMEOUT_S),
    }
    password = env.get("POSTGRES_PASSWORD") or env.get("PGPASSWORD")
    if password:
        info["password"] = password
    return info


def _value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime.date | datetime.time | datetime.datetime):
        return value.isoformat()
    if isinstance(value, memoryview | bytes):
        return bytes(value).hex()
    if isinstance(value, list | tuple):
        return [_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _value(v) for k, v in value.items()}
    return str(value)


#: What the server answers while it starts or replays its WAL (after a crash): it accepts
#: the TCP connection (so a tcp() healthcheck passes) but not yet a session.
_STARTING = ("the database system is starting up", "not yet accepting connections")


def _connect(psycopg2: Any, info: dict[str, Any]) -> Any:
    """Connect, waiting (polled, up to the step timeout) while the server is still starting."""
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while True:
        try:
            return psycopg2.connect(**info)
        except psycopg2.OperationalError as exc:
            if not any(s in str(exc) for s in _STARTING) or time.monotonic() >= deadline:
                raise
        time.sleep(0.02)


def _run(session: Any, iface: InterfaceRef, kwargs: dict[str, Any], method: str) -> Response:
    import psycopg2

    place = where(iface, method)
    sql = arg_str(kwargs, "sql", place, required=True)
    timer = Timer()
    try:
        info = _conninfo(iface, kwargs, place)
        info["port"] = session.protocol.dial_port(iface)  # the proxy while a rule is active
        conn = _connect(psycopg2, info)
    except psycopg2.Error as exc:
        return no_answer(session, iface, f"cannot connect: {exc}", timer)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql)
            if method == "exec":
                return ok({"rows_affected": cur.rowcount, "status": cur.statusmessage}, timer)
            if cur.description is None:
                return ok([], timer)
            names = [col.name for col in cur.description]
            rows = [{n: _value(v) for n, v in zip(names, row, strict=True)} for row in cur]
            return ok(rows, timer)
    except psycopg2.Error as exc:
        if exc.pgcode is None:  # the connection broke: no answer from the server
            return no_answer(session, iface, str(exc), timer)
        message = (exc.pgerror or str(exc)).strip().splitlines()[0]
        return server_error(message, timer)
    finally:
        conn.close()


def _query(session: Any, iface: InterfaceRef, kwargs: dict[str, Any]) -> Response:
    return _run(session, iface, kwargs, "query")


def _exec(session: Any, iface: InterfaceRef, kwargs: dict[str, Any]) -> Response:
    return _run(session, iface, kwargs, "exec")


register_handlers("postgres", {"query": _query, "exec": _exec})
