"""lab-effects - the failure lab's effects store: a two-account ledger that jobs move money in.

Env: PORT (7402), DATA_DIR (required),
     IDEMPOTENT (1 = the commit is keyed by the job id: a second APPLY of a job changes nothing
                 and answers "OK duplicate"; 0 = every APPLY applies),
     LEDGER_COMMIT (inplace = a transfer rewrites DATA_DIR/accounts/<from> and then
                    DATA_DIR/accounts/<to>, two separate writes, memory updated after each;
                    journal = one checksummed record appended to DATA_DIR/journal.log with ONE
                    write + fsync is the commit; the account files are a view rebuilt from the
                    journal, and a failure to update them does not undo the commit).

Protocol (one command per line):
  PING                                  -> PONG
  APPLY job from to amount worker       -> OK applied | OK duplicate | ERR <step>: <strerror>
  COUNT job                             -> <times the job's effect was applied>
  TOTAL                                 -> <sum of all balances>
Initial balances: alice=500, bob=500 (TOTAL 1000).

Log lines (stdout JSON): "effect_applied" {job, worker, count}, "effect_duplicate",
"apply_failed" {job, step}, "balances" {total, alice, bob} after every APPLY and at start-up,
"recovered" {job, count} per job at start-up, "torn_record_ignored" if the journal's tail is torn.
"""

import os
import threading
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
    quietly,
    run_main,
    serve,
)

INITIAL = {"alice": 500, "bob": 500}
DATA_DIR = env_str("DATA_DIR", "")
IDEMPOTENT = os.environ.get("IDEMPOTENT") == "1"
MODE = env_str("LEDGER_COMMIT", "inplace")

_mu = threading.Lock()
_balances = dict(INITIAL)
_applied = {}  # job -> how many times its effect was applied
_journal_fd = -1


def _path(*parts):
    return os.path.join(DATA_DIR, *parts)


def _write_file(path, data):
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    try:
        if os.write(fd, data) != len(data):
            raise OSError(5, "short write")
        os.fsync(fd)
    finally:
        quietly(os.close, fd)


def _write_account(name):
    _write_file(_path("accounts", name), f"{_balances[name]}\n".encode())


def _log_balances():
    total = sum(_balances.values())
    text = " ".join(f"{k}={v}" for k, v in _balances.items())
    log("INFO", f"balances total={total} {text}", op="balances", total=total, **_balances)


# --------------------------------------------------------------------------- in-place mode


def _load_inplace():
    for name in INITIAL:
        try:
            with open(_path("accounts", name), "rb") as f:
                _balances[name] = int(f.read().strip() or b"0")
        except FileNotFoundError:
            _write_account(name)
        except ValueError:
            log("ERROR", f"account {name} unreadable", op="recover", account=name)
            _balances[name] = 0
    try:
        with open(_path("effects.log"), "rb") as f:
            for raw in f.read().decode("utf-8", "replace").splitlines():
                job = raw.split(" ", 1)[0]
                if job:
                    _applied[job] = _applied.get(job, 0) + 1
    except FileNotFoundError:
        pass


def _apply_inplace(job, src, dst, amount, worker):
    step = "debit"
    try:
        _balances[src] -= amount
        _write_account(src)  # the debit is on disk (and in memory) from here on
        step = "credit"
        _balances[dst] += amount
        _write_account(dst)
        step = "record"
        fd = os.open(_path("effects.log"), os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
        try:
            os.write(fd, f"{job} {worker}\n".encode())
        finally:
            quietly(os.close, fd)
    except OSError as exc:
        if step == "debit":
            _balances[src] += amount  # nothing reached the disk
        elif step == "credit":
            _balances[dst] -= amount  # the credit never reached the disk; the debit did
        return step, exc
    return None, None


# --------------------------------------------------------------------------- journal mode


def _record(fields):
    body = json_dumps_flat(fields)
    return f"{zlib.crc32(body.encode()):08x} {body}\n".encode()


def _load_journal():
    path = _path("journal.log")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        data = b""
    good = 0
    for raw in data.split(b"\n"):
        end = good + len(raw) + 1
        rec = None
        if end <= len(data):
            crc, _, body = raw.decode("utf-8", "replace").partition(" ")
            try:
                if int(crc, 16) == zlib.crc32(body.encode()):
                    rec = json_loads(body)
            except ValueError:
                rec = None
        if rec is None:
            if raw:
                log("WARN", "torn record ignored", op="torn_record_ignored", offset=good)
            break
        good = end
        _balances[rec["from"]] -= rec["amount"]
        _balances[rec["to"]] += rec["amount"]
        _applied[rec["job"]] = _applied.get(rec["job"], 0) + 1
    if good < len(data):
        os.truncate(path, good)  # recovery ignores the torn record and writes after good ones
    for name in INITIAL:
        quietly(_write_account, name)  # the view follows the journal


def _apply_journal(job, src, dst, amount, worker):
    rec = _record({"job": job, "from": src, "to": dst, "amount": amount, "worker": worker})
    try:
        if os.write(_journal_fd, rec) != len(rec):
            raise OSError(5, "short write")
        os.fsync(_journal_fd)
    except OSError as exc:
        return "commit", exc
    _balances[src] -= amount
    _balances[dst] += amount
    for name in (src, dst):
        try:
            _write_account(name)
        except OSError as exc:  # the journal is the truth; the view is rebuilt on start
            log("WARN", f"view of {name} stale: {go_err(exc)}", op="view_stale", account=name)
    return None, None


# --------------------------------------------------------------------------- protocol


def apply(job, src, dst, amount, worker):
    with _mu:
        if IDEMPOTENT and _applied.get(job):
            log("INFO", f"{job}: duplicate ignored", op="effect_duplicate", job=job,
                worker=worker)  # fmt: skip
            return "OK duplicate"
        fn = _apply_journal if MODE == "journal" else _apply_inplace
        step, exc = fn(job, src, dst, amount, worker)
        if step is not None:
            log("ERROR", f"{job}: {step} failed: {go_err(exc)}", op="apply_failed", job=job,
                worker=worker, step=step)  # fmt: skip
            _log_balances()
            return f"ERR {step}: {go_err(exc)}"
        _applied[job] = _applied.get(job, 0) + 1
        log("INFO", f"{job}: effect applied by {worker}", op="effect_applied", job=job,
            worker=worker, count=_applied[job])  # fmt: skip
        _log_balances()
        return "OK applied"


def handle(line):
    parts = line.split(" ")
    cmd = parts[0].upper()
    if cmd == "PING":
        return "PONG"
    if cmd == "APPLY" and len(parts) == 6 and parts[2] in INITIAL and parts[3] in INITIAL:
        try:
            amount = int(parts[4])
        except ValueError:
            return "ERR usage: amount"
        return apply(parts[1], parts[2], parts[3], amount, parts[5])
    if cmd == "COUNT" and len(parts) == 2:
        with _mu:
            return str(_applied.get(parts[1], 0))
    if cmd == "TOTAL":
        with _mu:
            return str(sum(_balances.values()))
    return f"ERR usage: {line}"


def main():
    global _journal_fd
    if not DATA_DIR:
        fatal("lab-effects: DATA_DIR is required")
    if MODE not in ("inplace", "journal"):
        fatal(f"lab-effects: LEDGER_COMMIT must be inplace or journal, not {MODE!r}")
    os.makedirs(_path("accounts"), exist_ok=True)
    if MODE == "journal":
        _load_journal()
        _journal_fd = os.open(_path("journal.log"), os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
    else:
        _load_inplace()
    for job in sorted(_applied):
        log("INFO", f"recovered {job}", op="recovered", job=job, count=_applied[job])
    _log_balances()
    serve("lab-effects", env_port("PORT", "7402"), line_conn_handler(handle),
          mode=MODE, idempotent=str(int(IDEMPOTENT)))  # fmt: skip


if __name__ == "__main__":
    run_main(main)
