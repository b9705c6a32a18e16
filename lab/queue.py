"""lab-queue - the failure lab's job queue: a durable store on disk, leases with a timeout.

Env: PORT (7401), DATA_DIR (required; the store is DATA_DIR/queue.log),
     LEASE_TIMEOUT_S (0 = leases never expire), RECONCILE (1 = a reconcile step turns expired
     leases back into queued jobs, explicitly and persisted; 0 = an expired lease is simply
     handed to the next worker that asks).

Protocol (one command per line, one answer line):
  PING                      -> PONG
  ENQUEUE job payload       -> OK | OK exists
  LEASE worker              -> JOB job attempt payload | EMPTY
  ACK job worker            -> OK done | OK already_done | ERR unknown
  FAIL job worker reason    -> OK dead | OK already_<state> | ERR unknown
  STATE job                 -> STATE job state attempts worker   (worker "-" when none)
  AWAIT job s1,s2 seconds   -> like STATE, once the job is in one of the states or the time is up

Every state transition is one JSON record with a CRC32, appended with ONE write and fsync'ed
before it takes effect and before the answer; it is also logged on stdout as
{"msg": "transition", "job", "from", "to", "attempt", "worker", "reason", "persisted"}.
On start the store is replayed; a torn or corrupt record ends the replay (it is logged and cut
off) and every recovered job is logged as {"msg": "recovered", "job", "state", "attempts"}.
"""

import contextlib
import os
import threading
import time
import zlib

from _common import (
    env_port,
    env_str,
    fatal,
    go_err,
    json_dumps_flat,
    json_loads,
    line_conn_handler,
    log,
    run_main,
    serve,
)

DATA_DIR = env_str("DATA_DIR", "")
LEASE_TIMEOUT_S = float(os.environ.get("LEASE_TIMEOUT_S") or "0")
RECONCILE = os.environ.get("RECONCILE") == "1"
TERMINAL = ("done", "dead")

_cv = threading.Condition()
_jobs = {}  # job -> {"state", "attempts", "worker", "payload", "deadline"}
_store_fd = -1


def _record(fields):
    body = json_dumps_flat(fields)
    return f"{zlib.crc32(body.encode()):08x} {body}\n".encode()


def _parse(line):
    """The fields of one store line, or None if it is torn or corrupt."""
    crc, _, body = line.partition(" ")
    try:
        if int(crc, 16) != zlib.crc32(body.encode()):
            return None
        return json_loads(body)
    except ValueError:
        return None


def _replay(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return
    good = 0
    for raw in data.split(b"\n"):
        end = good + len(raw) + 1
        rec = _parse(raw.decode("utf-8", "replace")) if end <= len(data) else None
        if rec is None:
            if raw:
                log("WARN", "torn record ignored", op="recover", offset=good, bytes=len(raw))
            break
        good = end
        job = _jobs.setdefault(rec["job"], {"deadline": 0.0})
        job.update(state=rec["to"], attempts=rec["attempt"], worker=rec["worker"])
        if rec.get("payload"):
            job["payload"] = rec["payload"]
    if good < len(data):
        os.truncate(path, good)  # drop the torn tail so new records follow a good one
    for name in sorted(_jobs):
        job = _jobs[name]
        if job["state"] == "leased" and LEASE_TIMEOUT_S > 0:
            job["deadline"] = time.monotonic() + LEASE_TIMEOUT_S  # a fresh lease period
        log("INFO", f"recovered {name} {job['state']}", op="recover", job=name,
            state=job["state"], attempts=job["attempts"])  # fmt: skip


def _transition(name, to, worker="-", reason="", payload=""):
    """Persist, then apply, one state change (caller holds _cv). OSError if not durable."""
    job = _jobs.get(name)
    old = job["state"] if job else "none"
    attempts = (job["attempts"] if job else 0) + (1 if to == "leased" else 0)
    fields = {"job": name, "from": old, "to": to, "attempt": attempts, "worker": worker}
    if payload:
        fields["payload"] = payload
    rec = _record(fields)
    try:
        n = os.write(_store_fd, rec)
        if n != len(rec):
            raise OSError(5, "short write")
        os.fsync(_store_fd)
    except OSError as exc:
        log("ERROR", f"transition {name} {old}->{to} not persisted: {go_err(exc)}",
            op="transition", job=name, persisted="false")  # fmt: skip
        raise
    if job is None:
        job = _jobs[name] = {"payload": payload}
    job.update(state=to, attempts=attempts, worker=worker)
    job["deadline"] = time.monotonic() + LEASE_TIMEOUT_S if to == "leased" else 0.0
    log("INFO", f"{name}: {old} -> {to} ({reason or to}, attempt {attempts}, worker {worker})", op="transition", job=name, **{"from": old}, to=to,
        attempt=attempts, worker=worker, reason=reason or to, persisted="true")  # fmt: skip
    _cv.notify_all()


def _expired(job, now):
    return job["state"] == "leased" and LEASE_TIMEOUT_S > 0 and now >= job["deadline"]


def _reconciler():
    # The reconcile step: expired leases become queued jobs again, as explicit transitions.
    while True:
        time.sleep(0.1)
        with _cv:
            now = time.monotonic()
            for name in sorted(_jobs):
                if _expired(_jobs[name], now):
                    with contextlib.suppress(OSError):
                        _transition(name, "queued", reason="lease_expired")


def _state(name):
    job = _jobs.get(name)
    if job is None:
        return f"STATE {name} unknown 0 -"
    return f"STATE {name} {job['state']} {job['attempts']} {job['worker']}"


def _lease(worker):
    now = time.monotonic()
    for name in sorted(_jobs):
        job = _jobs[name]
        if job["state"] == "queued" or (not RECONCILE and _expired(job, now)):
            reason = "lease_expired" if job["state"] == "leased" else "leased"
            _transition(name, "leased", worker=worker, reason=reason)
            return f"JOB {name} {job['attempts']} {job.get('payload', '-')}"
    return "EMPTY"


def handle(line):
    parts = line.split(" ")
    cmd = parts[0].upper()
    try:
        with _cv:
            if cmd == "PING":
                return "PONG"
            if cmd == "ENQUEUE" and len(parts) == 3:
                if parts[1] in _jobs:
                    return "OK exists"
                _transition(parts[1], "queued", payload=parts[2])
                return "OK"
            if cmd == "LEASE" and len(parts) == 2:
                return _lease(parts[1])
            if cmd in ("ACK", "FAIL") and len(parts) >= 3:
                job = _jobs.get(parts[1])
                if job is None:
                    return "ERR unknown"
                if job["state"] in TERMINAL:
                    return f"OK already_{job['state']}"
                to = "done" if cmd == "ACK" else "dead"
                reason = "acked" if cmd == "ACK" else "dead_letter:" + "_".join(parts[3:])
                _transition(parts[1], to, worker=parts[2], reason=reason)
                return f"OK {to}"
            if cmd == "STATE" and len(parts) == 2:
                return _state(parts[1])
            if cmd == "AWAIT" and len(parts) == 4:
                wanted = parts[2].split(",")
                until = time.monotonic() + float(parts[3])
                while _jobs.get(parts[1], {}).get("state") not in wanted:
                    left = until - time.monotonic()
                    if left <= 0:
                        break
                    _cv.wait(left)
                return _state(parts[1])
    except OSError as exc:
        return f"ERR store: {go_err(exc)}"
    except ValueError:
        pass
    return f"ERR usage: {line}"


def main():
    global _store_fd
    if not DATA_DIR:
        fatal("lab-queue: DATA_DIR is required")
    path = os.path.join(DATA_DIR, "queue.log")
    _replay(path)
    _store_fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
    if RECONCILE and LEASE_TIMEOUT_S > 0:
        threading.Thread(target=_reconciler, daemon=True).start()
    serve("lab-queue", env_port("PORT", "7401"), line_conn_handler(handle),
          lease_timeout_s=str(LEASE_TIMEOUT_S), reconcile=str(int(RECONCILE)))  # fmt: skip


if __name__ == "__main__":
    run_main(main)
