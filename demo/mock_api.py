"""mock-api - HTTP front end of mock-db (faultbox demo, chapters 2-3 and 11).

Env: PORT (default 8080), DB_ADDR (default localhost:5432).

  GET  /health      -> 200 "ok"
  POST /data/<key>  -> body (trimmed; empty means "default") is stored with "SET key value":
                       200 "stored: key=value" | 500 "db error: ..."
  GET  /data/<key>  -> 200 value | 404 "not found" | 500 "db error: ..."

Every db command uses a new TCP connection (2 s dial timeout, 5 s deadline); a db that closes
without answering gives "db error: no response from db". Each request is logged as one JSON line
on stdout, plus {"level":"ERROR","msg":"db error: ..."} when the db fails.
"""

from _common import (
    TEXT,
    ClientError,
    decode,
    env_port,
    env_str,
    http_conn_handler,
    line_request,
    log,
    run_main,
    serve,
)

DB_ADDR = env_str("DB_ADDR", "localhost:5432")


def db_command(cmd):
    try:
        return line_request(DB_ADDR, cmd, connect_prefix="connect to db: ")
    except ClientError as exc:
        raise ClientError("no response from db" if exc.no_response else str(exc)) from None


def _db_error(req, op, key, err):
    msg = f"db error: {err}"
    log("ERROR", msg, op=op, key=key, method=req.method, path=req.path)
    return 500, TEXT, msg + "\n"


def data(req, key):
    if not key:
        return 400, TEXT, "key required\n"
    if req.method == "POST":
        value = decode(req.body).strip() or "default"
        try:
            resp = db_command(f"SET {key} {value}")
        except ClientError as exc:
            return _db_error(req, "SET", key, exc)
        if resp != "OK":
            return _db_error(req, "SET", key, resp)
        return 200, TEXT, f"stored: {key}={value}\n"
    if req.method in ("GET", "HEAD"):
        try:
            resp = db_command(f"GET {key}")
        except ClientError as exc:
            return _db_error(req, "GET", key, exc)
        if resp == "NOT_FOUND":
            return 404, TEXT, "not found\n"
        return 200, TEXT, resp + "\n"
    return 405, TEXT, "method not allowed\n"


def route(req):
    if req.path == "/health":
        return 200, TEXT, "ok\n"
    if req.path.startswith("/data/"):
        status, ctype, body = data(req, req.path[len("/data/") :])
    else:
        status, ctype, body = 404, TEXT, "404 page not found\n"
    log("INFO", f"{req.method} {req.path} {status}", op=req.method, path=req.path, status=status)
    return status, ctype, body


def main():
    serve("mock-api", env_port("PORT", "8080"), http_conn_handler(route), db=DB_ADDR)


if __name__ == "__main__":
    run_main(main)
