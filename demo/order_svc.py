"""order-svc - HTTP order API in front of inventory-svc (faultbox demo, chapters 4-6 and 12).

Env: PORT (default 8080), INVENTORY_ADDR (default localhost:5432).

  POST /orders {"sku": "...", "qty": N}
        -> CHECK sku, then RESERVE sku qty, each over a fresh TCP connection to inventory:
           200 {"id","sku","qty","status":"confirmed","remaining_stock"}
           503 {"status":"failed","error":"inventory unreachable: ..."}   (CHECK failed)
           503 {"status":"failed","error":"inventory error: ..."}         (RESERVE failed)
           404 {"status":"failed","error":"sku not found"}
           409 {"status":"failed","error":"<inventory answer>"}  e.g. "ERR wal: ...",
                                                               "ERR insufficient_stock 3"
           400 bad JSON / missing sku;  qty <= 0 means 1
  GET  /orders/<id>     -> 200 the order JSON (failed orders are kept too) | 404
  GET  /inventory/<sku> -> 200 {"sku":"...","qty":N} | 404 | 503
  GET  /health          -> 200 "ok"
One JSON log line per request on stdout (level ERROR for failed orders).
"""

import _thread

from _common import (
    JSON,
    TEXT,
    ClientError,
    env_port,
    env_str,
    http_conn_handler,
    json_dumps_flat,
    json_loads,
    line_request,
    log,
    run_main,
    serve,
)

INVENTORY_ADDR = env_str("INVENTORY_ADDR", "localhost:5432")

_orders = {}
_lock = _thread.allocate_lock()
_seq = [0]


def inventory_command(cmd):
    try:
        return line_request(INVENTORY_ADDR, cmd)
    except ClientError as exc:
        raise ClientError("no response from inventory" if exc.no_response else str(exc)) from None


def _dumps(obj):
    return json_dumps_flat(obj) + "\n"


def _new_order(sku, qty, status, error=None, remaining=None):
    order = {"id": 0, "sku": sku, "qty": qty, "status": status}
    if error is not None:
        order["error"] = error
    if remaining is not None:
        order["remaining_stock"] = remaining
    with _lock:
        _seq[0] += 1
        order["id"] = _seq[0]
        _orders[order["id"]] = order
    return order


def _fail(code, sku, qty, error):
    order = _new_order(sku, qty, "failed", error=error)
    log(
        "ERROR",
        f"order {order['id']} failed: {error}",
        op="ORDER",
        id=order["id"],
        sku=sku,
        qty=qty,
        status="failed",
        code=code,
    )
    return code, JSON, _dumps(order)


def place_order(req):
    if req.method != "POST":
        return 405, TEXT, "method not allowed\n"
    try:
        data = json_loads(req.body.decode("utf-8"))
    except ValueError as exc:  # also UnicodeDecodeError
        return 400, TEXT, f"bad request: {exc}\n"
    if data is None:
        data = {}
    sku, qty = (data.get("sku"), data.get("qty")) if isinstance(data, dict) else (None, None)
    if (
        not isinstance(data, dict)
        or not isinstance(sku, str | None)
        or not (qty is None or (isinstance(qty, int) and not isinstance(qty, bool)))
    ):
        return 400, TEXT, 'bad request: expected {"sku": string, "qty": integer}\n'
    sku = sku or ""
    qty = qty or 0
    if not sku:
        return 400, TEXT, "sku required\n"
    if qty <= 0:
        qty = 1

    try:
        stock = inventory_command(f"CHECK {sku}")
    except ClientError as exc:
        return _fail(503, sku, qty, f"inventory unreachable: {exc}")
    if stock == "NOT_FOUND":
        return _fail(404, sku, qty, "sku not found")

    try:
        answer = inventory_command(f"RESERVE {sku} {qty}")
    except ClientError as exc:
        return _fail(503, sku, qty, f"inventory error: {exc}")
    if not answer.startswith("OK"):
        return _fail(409, sku, qty, answer)
    try:
        remaining = int(answer.split()[1])
    except (IndexError, ValueError):
        remaining = 0
    order = _new_order(sku, qty, "confirmed", remaining=remaining)
    log(
        "INFO",
        f"order {order['id']} confirmed: {sku} x{qty} (remaining {remaining})",
        op="ORDER",
        id=order["id"],
        sku=sku,
        qty=qty,
        status="confirmed",
        remaining=remaining,
    )
    return 200, JSON, _dumps(order)


def get_order(id_text):
    digits = id_text[1:] if id_text[:1] in ("+", "-") else id_text
    n = 0
    while n < len(digits) and digits[n].isascii() and digits[n].isdigit():
        n += 1
    order_id = int(id_text[: len(id_text) - len(digits) + n]) if n else 0
    with _lock:
        order = _orders.get(order_id)
    if order is None:
        return 404, TEXT, "order not found\n"
    return 200, JSON, _dumps(order)


def get_inventory(sku):
    if not sku:
        return 400, TEXT, "sku required\n"
    try:
        answer = inventory_command(f"CHECK {sku}")
    except ClientError as exc:
        return 503, TEXT, f"inventory error: {exc}\n"
    if answer == "NOT_FOUND":
        return 404, TEXT, "sku not found\n"
    try:
        qty = int(answer)
    except ValueError:
        return 503, TEXT, f"inventory error: unexpected answer {answer!r}\n"
    return 200, JSON, _dumps({"sku": sku, "qty": qty})


def route(req):
    path = req.path
    if path == "/health":
        return 200, TEXT, "ok\n"
    if path == "/orders":
        return place_order(req)  # logs the order itself
    if path.startswith("/orders/"):
        status, ctype, body = get_order(path[len("/orders/") :])
    elif path.startswith("/inventory/"):
        status, ctype, body = get_inventory(path[len("/inventory/") :])
    else:
        status, ctype, body = 404, TEXT, "404 page not found\n"
    log("INFO", f"{req.method} {path} {status}", op=req.method, path=path, status=status)
    return status, ctype, body


def main():
    serve("order-svc", env_port("PORT", "8080"), http_conn_handler(route), inventory=INVENTORY_ADDR)


if __name__ == "__main__":
    run_main(main)
