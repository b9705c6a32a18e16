"""mock-db - in-memory line-based TCP key/value store (faultbox demo, chapters 2-3 and 11).

Env: PORT (default 5432).

Protocol (one command per line, answers end with a newline; commands are case-insensitive):
  PING          -> PONG
  SET key value -> OK                  (value is the rest of the line)
  GET key       -> value | NOT_FOUND
  QUIT          -> closes the connection
  anything else -> ERR unknown command: <CMD>

Every command handled is logged as one JSON line on stdout, e.g.
{"level":"INFO","msg":"SET key1 value1","op":"SET","key":"key1","status":"ok"}
No disk I/O at all.
"""

import _thread

from _common import env_port, line_conn_handler, log, run_main, serve

_store = {}
_lock = _thread.allocate_lock()


def handle(line):
    parts = line.split(" ", 2)
    cmd = parts[0].upper()
    if cmd == "PING":
        log("INFO", "PING", op="PING", status="ok")
        return "PONG"
    if cmd == "SET":
        if len(parts) < 3:
            log("INFO", line, op="SET", status="usage")
            return "ERR usage: SET key value"
        key, value = parts[1], parts[2]
        with _lock:
            _store[key] = value
        log("INFO", f"SET {key} {value}", op="SET", key=key, status="ok")
        return "OK"
    if cmd == "GET":
        if len(parts) < 2:
            log("INFO", line, op="GET", status="usage")
            return "ERR usage: GET key"
        key = parts[1]
        with _lock:
            value = _store.get(key)
        status = "not_found" if value is None else "ok"
        log("INFO", f"GET {key}", op="GET", key=key, status=status)
        return "NOT_FOUND" if value is None else value
    if cmd == "QUIT":
        log("INFO", "QUIT", op="QUIT", status="ok")
        return None
    log("INFO", f"unknown command: {cmd}", op=cmd, status="unknown")
    return f"ERR unknown command: {cmd}"


def main():
    serve("mock-db", env_port("PORT", "5432"), line_conn_handler(handle))


if __name__ == "__main__":
    run_main(main)
