"""A WAL service that acknowledges before it fsyncs (the bug crash(lose_unsynced=True) finds).

Env: PORT, WAL_PATH. One command per line: ``PUT x`` appends ``x\\n`` to the WAL with one
write(2) and answers ``OK`` at once; a background thread fsyncs the WAL once a second.
"""

import os
import socket
import sys
import threading
import time

wal = os.open(os.environ["WAL_PATH"], os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
os.fsync(wal)


def syncer() -> None:
    while True:
        time.sleep(1.0)  # the service's own policy (like appendfsync everysec), not a test wait
        os.fsync(wal)


def serve(conn: socket.socket) -> None:
    for line in conn.makefile("rb"):
        if line.startswith(b"PUT "):
            os.write(wal, line[4:])
            conn.sendall(b"OK\n")


threading.Thread(target=syncer, daemon=True).start()
srv = socket.create_server(("127.0.0.1", int(os.environ["PORT"])))
print("listening", flush=True)
sys.stdout.flush()
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
