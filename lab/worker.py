"""lab-worker - a failure-lab worker: lease a job, journal it, apply its effect, acknowledge.

Env: PORT (status port, 7403), WORKER_ID (required), QUEUE_ADDR (localhost:7401),
     EFFECTS_ADDR (localhost:7402), DATA_DIR (required; the worker's journal),
     POLL_MS (100: pause after an EMPTY lease),
     RETRY_LIMIT (0 = retry a failed effect without bound; N = give up after N tries and send
                  the job to the dead letter with FAIL),
     RETRY_DELAY_MS (50), RETRY_BACKOFF (fixed | exponential: the delay doubles per try).

One job at a time: LEASE -> write DATA_DIR/<job>-a<attempt>.journal (open, write, fsync,
close) -> APPLY to the effects store (a fresh connection per try) -> ACK, or FAIL once the
retries are exhausted. The queue connection is opened before the status port listens and is
kept (re-opened if the queue goes away), so a fault on connect(2) only hits the effects store.
Payload: "from:to:amount".

Status protocol: PING -> PONG; STATUS -> IDLE | BUSY job;
AWAIT_IDLE seconds -> IDLE | BUSY job (once idle, or when the time is up).
Log lines (stdout JSON, field op): leased, journaled, apply_failed {job, try, error},
applied {job, reply}, acked, dead_lettered, queue_lost.
"""

import _socket
import os
import threading
import time

from _common import (
    AF_INET,
    SOCK_STREAM,
    ClientError,
    LineReader,
    decode,
    encode,
    env_port,
    env_str,
    fatal,
    go_err,
    line_conn_handler,
    line_request,
    log,
    quietly,
    run_main,
    serve,
    write_all,
)

WORKER_ID = env_str("WORKER_ID", "")
QUEUE_ADDR = env_str("QUEUE_ADDR", "localhost:7401")
EFFECTS_ADDR = env_str("EFFECTS_ADDR", "localhost:7402")
DATA_DIR = env_str("DATA_DIR", "")
POLL_S = int(os.environ.get("POLL_MS") or "100") / 1000
RETRY_LIMIT = int(os.environ.get("RETRY_LIMIT") or "0")
RETRY_DELAY_S = int(os.environ.get("RETRY_DELAY_MS") or "50") / 1000
EXPONENTIAL = env_str("RETRY_BACKOFF", "fixed") == "exponential"

_cv = threading.Condition()
_busy = [""]  # the job being worked on, "" when idle


class QueueConnection:
    """One kept connection to the queue; a failed call reconnects and asks again."""

    def __init__(self, addr):
        host, _, port = addr.rpartition(":")
        self.sockaddr = ("127.0.0.1" if host in ("", "localhost") else host, int(port))
        self.sock = None
        self.reader = None

    def connect(self):
        while self.sock is None:
            sock = _socket.socket(AF_INET, SOCK_STREAM)
            try:
                sock.connect(self.sockaddr)
            except OSError as exc:
                sock.close()
                log("WARN", f"queue unreachable: {go_err(exc)}", op="queue_lost")
                time.sleep(0.1)
                continue
            self.sock, self.reader = sock, LineReader(sock.fileno())

    def call(self, line):
        while True:
            self.connect()
            try:
                write_all(self.sock.fileno(), encode(line + "\n"))
                answer = self.reader.readline()
                if answer is not None:
                    return decode(answer).strip()
            except (OSError, ValueError) as exc:
                log("WARN", f"queue connection lost: {go_err(exc)}", op="queue_lost")
            quietly(self.sock.close)
            self.sock = self.reader = None


def _set_busy(job):
    with _cv:
        _busy[0] = job
        _cv.notify_all()


def journal(job, attempt):
    path = os.path.join(DATA_DIR, f"{job}-a{attempt}.journal")
    try:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
        try:
            os.write(fd, f"{job} {attempt} {WORKER_ID}\n".encode())
            os.fsync(fd)
        finally:
            quietly(os.close, fd)
        log("INFO", f"{job}: journaled attempt {attempt}", op="journaled", job=job,
            attempt=attempt)  # fmt: skip
    except OSError as exc:
        log("ERROR", f"{job}: journal failed: {go_err(exc)}", op="journal_failed", job=job)


def apply_effect(job, payload):
    """True once the effects store accepted the job's effect; False when the retries ran out."""
    src, dst, amount = (payload.split(":") + ["", "", ""])[:3]
    tries = 0
    while True:
        tries += 1
        try:
            reply = line_request(EFFECTS_ADDR, f"APPLY {job} {src} {dst} {amount} {WORKER_ID}")
        except ClientError as exc:
            reply = f"ERR {exc}"
        if reply.startswith("OK"):
            log("INFO", f"{job}: {reply}", op="applied", job=job, reply=reply, tries=tries)
            return True
        log("WARN", f"{job}: try {tries} failed: {reply}", op="apply_failed", job=job,
            error=reply, **{"try": tries})  # fmt: skip
        if RETRY_LIMIT and tries >= RETRY_LIMIT:
            return False
        time.sleep(RETRY_DELAY_S * (2 ** (tries - 1) if EXPONENTIAL else 1))


def work_loop(queue):
    while True:
        reply = queue.call(f"LEASE {WORKER_ID}")
        if not reply.startswith("JOB "):
            time.sleep(POLL_S)
            continue
        _, job, attempt, payload = reply.split(" ", 3)
        _set_busy(job)
        log("INFO", f"{job}: leased (attempt {attempt})", op="leased", job=job, attempt=attempt)
        journal(job, attempt)
        if apply_effect(job, payload):
            answer = queue.call(f"ACK {job} {WORKER_ID}")
            log("INFO", f"{job}: ack -> {answer}", op="acked", job=job, reply=answer)
        else:
            answer = queue.call(f"FAIL {job} {WORKER_ID} retries_exhausted")
            log("WARN", f"{job}: dead letter -> {answer}", op="dead_lettered", job=job,
                reply=answer)  # fmt: skip
        _set_busy("")


def handle(line):
    parts = line.split(" ")
    cmd = parts[0].upper()
    if cmd == "PING":
        return "PONG"
    with _cv:
        if cmd == "AWAIT_IDLE" and len(parts) == 2:
            until = time.monotonic() + float(parts[1])
            while _busy[0] and until > time.monotonic():
                _cv.wait(until - time.monotonic())
        elif cmd != "STATUS":
            return f"ERR usage: {line}"
        return f"BUSY {_busy[0]}" if _busy[0] else "IDLE"


def main():
    if not WORKER_ID or not DATA_DIR:
        fatal("lab-worker: WORKER_ID and DATA_DIR are required")
    queue = QueueConnection(QUEUE_ADDR)
    queue.connect()  # before the status port listens: ready means connected
    threading.Thread(target=work_loop, args=(queue,), daemon=True).start()
    serve(f"lab-worker {WORKER_ID}", env_port("PORT", "7403"), line_conn_handler(handle),
          worker=WORKER_ID)  # fmt: skip


if __name__ == "__main__":
    run_main(main)
