"""inventory-svc - line-based TCP stock service with a write-ahead log (faultbox demo, ch. 4-6, 12).

Env: PORT (default 5432), WAL_PATH (default /tmp/inventory.wal),
     INVENTORY_DOUBLE_WRITE=1 (chapter 4's "double-write bug": the WAL entry is written twice).

Protocol (one command per line; commands are case-insensitive):
  PING              -> PONG
  CHECK sku         -> <qty> | NOT_FOUND
  RESERVE sku qty   -> OK <remaining> | ERR insufficient_stock <N> | ERR not_found | ERR wal: <err>
  QUIT              -> closes the connection
Initial stock: widget=100, gadget=50, gizmo=25 (in memory; the WAL is never replayed).

Every RESERVE appends to the WAL under a mutex: open(O_CREAT|O_WRONLY|O_APPEND, 0644) -> ONE
write("RESERVE sku qty\\n") -> fsync -> close, each a distinct syscall. If any step fails the answer
is "ERR wal: <strerror>" and the stock is left unchanged. One JSON log line per command on stdout.
"""

import _thread
import os

from _common import env_port, env_str, go_err, line_conn_handler, log, quietly, run_main, serve

STOCK = {"widget": 100, "gadget": 50, "gizmo": 25}
_mu = _thread.allocate_lock()
WAL_PATH = env_str("WAL_PATH", "/tmp/inventory.wal")
DOUBLE_WRITE = os.environ.get("INVENTORY_DOUBLE_WRITE") == "1"


class WalError(Exception):
    def __init__(self, step, exc):
        super().__init__(go_err(exc))
        self.step = step


def wal_append(entry):
    try:
        fd = os.open(WAL_PATH, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
    except OSError as exc:
        raise WalError("open", exc) from None
    try:
        try:
            n = os.write(fd, entry)
        except OSError as exc:
            raise WalError("write", exc) from None
        if n != len(entry):
            raise WalError("write", OSError(0, "short write"))
        if DOUBLE_WRITE:
            quietly(os.write, fd, entry)  # the tutorial's bug: an extra, unchecked write
        try:
            os.fsync(fd)
        except OSError as exc:
            raise WalError("fsync", exc) from None
    finally:
        quietly(os.close, fd)


def _atoi(s):
    """strconv.Atoi: optional sign, ASCII digits only."""
    digits = s[1:] if s[:1] in ("+", "-") else s
    if not digits or not digits.isascii() or not digits.isdigit():
        raise ValueError(f'strconv.Atoi: parsing "{s}": invalid syntax')
    return int(s)


def reserve(sku, qty):
    with _mu:
        current = STOCK.get(sku)
        if current is None:
            return "INFO", "ERR not_found"
        if current < qty:
            return "INFO", f"ERR insufficient_stock {current}"
        try:
            wal_append(f"RESERVE {sku} {qty}\n".encode("utf-8", "surrogateescape"))
        except WalError as exc:
            return "ERROR", f"ERR wal: {exc}", exc.step
        STOCK[sku] = current - qty  # only after the WAL entry is durable
        return "INFO", f"OK {current - qty}"


def handle(line):
    parts = line.split(" ", 2)
    cmd = parts[0].upper()
    if cmd == "PING":
        log("INFO", "PING", op="PING")
        return "PONG"
    if cmd == "CHECK":
        if len(parts) < 2:
            log("INFO", line, op="CHECK", status="usage")
            return "ERR usage: CHECK <sku>"
        sku = parts[1]
        with _mu:
            qty = STOCK.get(sku)
        reply = "NOT_FOUND" if qty is None else str(qty)
        log("INFO", f"CHECK {sku} -> {reply}", op="CHECK", sku=sku)
        return reply
    if cmd == "RESERVE":
        if len(parts) < 3:
            log("INFO", line, op="RESERVE", status="usage")
            return "ERR usage: RESERVE <sku> <qty>"
        sku = parts[1]
        try:
            qty = _atoi(parts[2])
        except ValueError as exc:
            log("INFO", line, op="RESERVE", status="bad_qty")
            return f"ERR bad qty: {exc}"
        level, reply, *step = reserve(sku, qty)
        if step:
            log(
                level,
                f"RESERVE {sku} {qty} -> {reply}",
                op="RESERVE",
                sku=sku,
                qty=qty,
                step=step[0],
                path=WAL_PATH,
            )
        else:
            log(level, f"RESERVE {sku} {qty} -> {reply}", op="RESERVE", sku=sku, qty=qty)
        return reply
    if cmd == "QUIT":
        log("INFO", "QUIT", op="QUIT")
        return None
    log("INFO", f"unknown command: {cmd}", op=cmd, status="unknown")
    return f"ERR unknown: {cmd}"


def main():
    serve("inventory-svc", env_port("PORT", "5432"), line_conn_handler(handle), wal=WAL_PATH)


if __name__ == "__main__":
    run_main(main)
