"""The reader behind ``wal_stream(tables=[…])``: PostgreSQL row changes as ``wal`` events
(logical decoding).

The reader opens a replication connection (psycopg2 ``LogicalReplicationConnection``) to the
postgres interface of the service it is attached to, creates a **temporary** logical slot with
the built-in ``test_decoding`` output plugin and streams every committed change:

    table public.orders: INSERT: id[integer]:1 item[text]:'widget' qty[integer]:1

becomes an event of type ``wal`` on that service with
``.data = {"table": "orders", "action": "INSERT", "id": 1, "item": "widget", "qty": 1}``.

Why test_decoding: it ships with every PostgreSQL server (wal2json is an extra package, pgoutput
needs a publication, which needs the tables to exist before the source starts — the app usually
creates them later), it needs no setup, and its text format carries table, action and typed
column values, which is everything an assertion needs. A temporary slot disappears with the
connection, so nothing is left behind even if faultbox is killed.

Drain guarantee (the event log calls :meth:`WalReader.drain` before every snapshot): the
source asks the server for its current WAL position (``pg_current_wal_lsn()``, read-only) and
waits — at most :data:`DRAIN_TIMEOUT_S` — until the walsender reports (keepalive ``wal_end``)
that decoding has passed it. Every transaction committed before the assertion started has then
been emitted. If the server is hung, the wait ends at the bound. If the stream breaks (the
server crashed, PANICked or was killed), the reader records one ``source_error`` and keeps it as
its failure: a query over ``wal`` events then cannot be proven (``_background.py``). A drain
whose LSN query finds its connection gone waits (bounded) until the reader has seen the
stream's end, so an assertion right after a crash sees the failure, not a quiet stream.

With ``tables=``, changes to other tables are not events, but the reader counts them: a
``tables=["ordrs"]`` that matched nothing while ``orders`` changed says so (:meth:`notes`).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import select
import threading
import time
from collections import Counter
from typing import Any

from faultbox.trace.events import EventLog
from faultbox.trace.vocabulary import EventType

from ._background import BackgroundReader
from .start_errors import SourceStartError

CONNECT_TIMEOUT_S = 10.0  # the server accepts TCP before it accepts sessions
DRAIN_TIMEOUT_S = 1.5
LSN_QUERY_TIMEOUT_S = 1.0
_POLL_S = 0.1
_slot_ids = itertools.count(1)

# ------------------------------------------------------------------ test_decoding parsing

_HEADER = re.compile(
    r"^table (?P<rel>.+?): (?P<action>INSERT|UPDATE|DELETE|TRUNCATE):(?P<rest>.*)$"
)
_INT_TYPES = {"smallint", "integer", "bigint", "oid"}
_FLOAT_TYPES = {"real", "double precision"}


def _split_relation(rel: str) -> tuple[str, str]:
    """``public.orders`` / ``"My Schema"."Orders"`` → (schema, table)."""
    parts: list[str] = []
    buf, i, quoted = "", 0, False
    while i < len(rel):
        ch = rel[i]
        if ch == '"':
            if quoted and rel[i + 1 : i + 2] == '"':
                buf += '"'
                i += 1
            else:
                quoted = not quoted
        elif ch == "." and not quoted:
            parts.append(buf)
            buf = ""
        else:
            buf += ch
        i += 1
    parts.append(buf)
    if len(parts) == 1:
        return "public", parts[0]
    return parts[0], ".".join(parts[1:])


def _convert(type_name: str, text: str | None) -> Any:
    if text is None:
        return None
    if type_name in _INT_TYPES:
        try:
            return int(text)
        except ValueError:
            return text
    if type_name in _FLOAT_TYPES or type_name == "numeric":
        try:
            number = float(text)
        except ValueError:
            return text
        if type_name == "numeric" and re.fullmatch(r"-?\d+", text):
            return int(text)
        return number
    if type_name == "boolean":
        return text == "true"
    return text


def parse_columns(text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parse test_decoding's column list → (new tuple columns, old key columns)."""
    new: dict[str, Any] = {}
    old: dict[str, Any] = {}
    target = new
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] == " ":
            i += 1
        if i >= n:
            break
        if text.startswith("old-key:", i):
            target, i = old, i + len("old-key:")
            continue
        if text.startswith("new-tuple:", i):
            target, i = new, i + len("new-tuple:")
            continue
        if text.startswith("(no-tuple data)", i):
            break
        # column name: "quoted ""name""" or bare up to '['
        if text[i] == '"':
            j, name = i + 1, ""
            while j < n:
                if text[j] == '"':
                    if text[j + 1 : j + 2] == '"':
                        name += '"'
                        j += 2
                        continue
                    break
                name += text[j]
                j += 1
            i = j + 1
        else:
            j = text.find("[", i)
            if j < 0:
                break
            name, i = text[i:j], j
        if i >= n or text[i] != "[":
            break
        end = text.find("]:", i)
        if end < 0:
            break
        type_name, i = text[i + 1 : end], end + 2
        value: str | None
        if text.startswith("'", i):
            j, chunks = i + 1, []
            while j < n:
                if text[j] == "'":
                    if text[j + 1 : j + 2] == "'":
                        chunks.append("'")
                        j += 2
                        continue
                    break
                chunks.append(text[j])
                j += 1
            value, i = "".join(chunks), j + 1
        else:
            j = text.find(" ", i)
            j = n if j < 0 else j
            raw_value, i = text[i:j], j
            value = None if raw_value == "null" else raw_value
        target[name] = _convert(type_name, value)
    return new, old


def parse_change(payload: str) -> dict[str, Any] | None:
    """One test_decoding line → ``{"schema", "table", "action", "columns", "old"}``.

    BEGIN/COMMIT and logical messages give None.
    """
    m = _HEADER.match(payload)
    if m is None:
        return None
    schema, table = _split_relation(m.group("rel"))
    action = m.group("action")
    columns, old = ({}, {}) if action == "TRUNCATE" else parse_columns(m.group("rest"))
    if action == "DELETE" and not columns:
        columns = old
    return {"schema": schema, "table": table, "action": action, "columns": columns, "old": old}


def lsn_text(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


# ------------------------------------------------------------------ the reader


class WalStreamError(SourceStartError):
    """The stream could not start (message says why and what to change)."""


def slot_name(requested: str) -> str:
    """The replication slot to create: the spec's ``slot=``, else one unique to this run."""
    return requested or f"faultbox_{os.getpid()}_{next(_slot_ids)}"


class WalReader(BackgroundReader):
    """One test's replication stream: a reader thread, an LSN connection, a drain hook."""

    source = "wal_stream"
    event_type = EventType.WAL
    event_fields = frozenset({"table", "schema", "action", "lsn", "data", "old"})

    def __init__(
        self,
        log: EventLog,
        service: str,
        conninfo: dict[str, Any],
        slot: str,
        tables: tuple[str, ...] | list[str],
    ) -> None:
        super().__init__(log, service)
        self.conninfo = {k: v for k, v in conninfo.items() if v is not None}
        self.slot = slot
        self.tables = set(tables)
        self._repl: Any = None
        self._cursor: Any = None
        self._lsn_conn: Any = None
        self._lsn_busy = threading.Lock()
        self._cond = threading.Condition()
        self._position = 0  # how far the walsender says decoding has got
        self._wanted = 0  # a drain waits for this position
        self._dead: str | None = None
        self._seen: Counter[tuple[str, str]] = Counter()  # (schema, table) → changes
        self._seen_lock = threading.Lock()

    # -------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Create the slot and start streaming (WalStreamError if that fails)."""
        import psycopg2
        import psycopg2.extras

        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while True:
            try:
                self._repl = psycopg2.connect(
                    **self.conninfo,
                    connect_timeout=2,
                    connection_factory=psycopg2.extras.LogicalReplicationConnection,
                )
                break
            except psycopg2.OperationalError as exc:
                if time.monotonic() >= deadline:
                    raise WalStreamError(f"cannot connect: {first_line(exc)}") from None
                time.sleep(0.05)
        cur = self._repl.cursor()
        try:
            cur.execute(f"CREATE_REPLICATION_SLOT {self.slot} TEMPORARY LOGICAL test_decoding")
            cur.fetchall()
            cur.start_replication(
                slot_name=self.slot,
                decode=True,
                options={"include-xids": "0", "skip-empty-xacts": "1"},
            )
        except psycopg2.Error as exc:
            self._repl.close()
            raise WalStreamError(_explain(exc)) from None
        self._cursor = cur
        self._lsn_conn = psycopg2.connect(**self.conninfo, connect_timeout=2)
        self._lsn_conn.autocommit = True
        self._run_in_background(self._run, f"wal-{self.service}", self.drain)

    def stop(self) -> None:
        self._stop_background(2.0)
        for conn in (self._repl, self._lsn_conn):
            if conn is not None:
                # Closing the replication connection drops the temporary slot.
                with contextlib.suppress(Exception):
                    conn.close()

    # -------------------------------------------------------------- reader thread

    def _run(self) -> None:
        cur = self._cursor
        last_ask = 0.0
        try:
            while not self._stopping.is_set():
                msg = cur.read_message()
                if msg is not None:
                    self._handle(msg.payload, msg.data_start)
                    continue
                self._advance(cur.wal_end)
                with self._cond:
                    behind = self._wanted > self._position
                now = time.monotonic()
                if behind and now - last_ask > 0.02:
                    # Ask for a keepalive now: its wal_end says how far decoding has got.
                    cur.send_feedback(flush_lsn=self._position, reply=True)
                    last_ask = now
                select.select([cur], [], [], 0.02 if behind else _POLL_S)
        except Exception as exc:  # server crashed, connection lost
            text = first_line(exc)
            if "PGRES_COPY_BOTH" in text or "closed the connection" in text:
                text = "the server closed the replication connection (crashed or stopped)"
            # The event first: a drain that sees _dead must find the failure recorded.
            self._fail("lost its connection", text)
            self._dead = text
        finally:
            with self._cond:
                self._cond.notify_all()

    def _advance(self, lsn: int) -> None:
        with self._cond:
            if lsn > self._position:
                self._position = lsn
                self._cond.notify_all()

    def _handle(self, payload: str, lsn: int) -> None:
        change = parse_change(payload)
        if change is None:
            return
        schema, table = change["schema"], change["table"]
        shown = _shown(schema, table)
        with self._seen_lock:
            self._seen[(schema, table)] += 1
        if self.tables and not (_names(schema, table) & self.tables):
            return
        data: dict[str, Any] = dict(change["columns"])
        data["table"] = shown
        data["action"] = change["action"]
        fields = {
            "table": shown,
            "schema": schema,
            "action": change["action"],
            "lsn": lsn_text(lsn),
            "data": payload,
        }
        if change["old"]:
            fields["old"] = json.dumps(change["old"], default=str)
        self.log.emit(EventType.WAL, self.service, fields, data=data)

    # -------------------------------------------------------------- notes

    def notes(self) -> list[str]:
        """A ``tables=`` name that matched no change while other tables changed."""
        if not self.tables:
            return []
        with self._seen_lock:
            seen = dict(self._seen)
        missing = [t for t in sorted(self.tables) if not any(t in _names(*k) for k in seen)]
        if not missing or not seen:
            return []
        changed = ", ".join(
            f"{_shown(*k)} ({n})" for k, n in sorted(seen.items(), key=lambda kv: -kv[1])
        )
        asked = ", ".join(json.dumps(t) for t in sorted(self.tables))
        return [
            f"wal_stream(tables=[{asked}]) of {self.service} recorded no change to "
            f"{', '.join(missing)}; the stream saw changes only to other tables: {changed}"
        ]

    # -------------------------------------------------------------- drain

    def drain(self) -> None:
        """Wait (bounded) until every change committed before now has been emitted."""
        if self._dead is not None or self._stopping.is_set():
            return
        target = self._current_lsn()
        if target is None:
            if self._lsn_conn is None:
                # Its connection is gone: the server crashed or restarted, and with it the
                # walsender. Let the reader see the stream's end before the caller looks.
                self._await_reader_end()
            return
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        with self._cond:
            self._wanted = max(self._wanted, target)
            while self._position < target and self._dead is None and not self._stopping.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)

    def _await_reader_end(self) -> None:
        with self._cond:
            self._cond.wait_for(
                lambda: self._dead is not None or self._stopping.is_set(), DRAIN_TIMEOUT_S
            )

    def _current_lsn(self) -> int | None:
        """``pg_current_wal_lsn()`` with a time bound (the server may be hung by a fault).

        A broken connection is dropped (``_lsn_conn = None``) and made again by a later call.
        """
        if not self._lsn_busy.acquire(blocking=False):
            return None  # a previous query is still stuck
        result: list[int] = []

        def query() -> None:
            import psycopg2  # third-party, loaded by start()

            try:
                if self._lsn_conn is None:
                    self._lsn_conn = psycopg2.connect(**self.conninfo, connect_timeout=1)
                    self._lsn_conn.autocommit = True
                with self._lsn_conn.cursor() as cur:
                    cur.execute("SELECT pg_current_wal_lsn()::text")
                    result.append(parse_lsn(cur.fetchone()[0]))
            except Exception:
                conn = self._lsn_conn
                if conn is None or conn.closed:
                    self._lsn_conn = None
            finally:
                self._lsn_busy.release()

        worker = threading.Thread(target=query, name=f"wal-lsn-{self.service}", daemon=True)
        worker.start()
        worker.join(LSN_QUERY_TIMEOUT_S)
        return result[0] if result else None


def _shown(schema: str, table: str) -> str:
    """How events name a table: unqualified in ``public``, else ``schema.table``."""
    return table if schema == "public" else f"{schema}.{table}"


def _names(schema: str, table: str) -> set[str]:
    """The names a ``tables=`` entry may use for a table."""
    return {table, f"{schema}.{table}", _shown(schema, table)}


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (psycopg2 messages run over several)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _explain(exc: BaseException) -> str:
    text = first_line(exc)
    if "wal_level" in text:
        return (
            f"{text}. The server runs without wal_level=logical; start it with "
            'args=[…, "-c", "wal_level=logical"] (or set wal_level = logical in postgresql.conf)'
        )
    if "replication slots" in text or "max_wal_senders" in text:
        return f"{text}. Raise max_replication_slots / max_wal_senders on the server"
    return text
