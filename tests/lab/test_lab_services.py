"""The lab services' own recovery, on the real executables: a torn record at the end of the
queue's store or of the effects journal is ignored and cut off on start."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import free_port


def _record(fields: dict[str, object]) -> bytes:
    body = json.dumps(fields, separators=(",", ":"))
    return f"{zlib.crc32(body.encode()):08x} {body}\n".encode()


@contextmanager
def _service(binary: Path, env: dict[str, str]) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    proc = subprocess.Popen(
        [str(binary)], env={**os.environ, **env, "PORT": str(port)}, stdout=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # start-up lines, up to "listening"
            if b"listening on" in line:
                break
        yield port, proc
    finally:
        proc.terminate()
        proc.wait(10)


def _ask(port: int, line: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(line.encode() + b"\n")
        return sock.makefile().readline().strip()


def test_queue_ignores_a_torn_record(tmp_path: Path, lab_bin: Path) -> None:
    store = tmp_path / "queue.log"
    good = _record({"job": "j1", "from": "none", "to": "queued", "attempt": 0, "worker": "-",
                    "payload": "alice:bob:10"})  # fmt: skip
    torn = _record({"job": "j1", "from": "queued", "to": "leased", "attempt": 1, "worker": "w"})
    store.write_bytes(good + torn[:20])  # the second record lost its tail
    with _service(lab_bin / "lab-queue", {"DATA_DIR": str(tmp_path)}) as (port, _):
        assert _ask(port, "STATE j1") == "STATE j1 queued 0 -"
        assert store.read_bytes() == good  # cut off, so new records follow a good one
        assert _ask(port, "LEASE w2").startswith("JOB j1 1 ")
    assert store.read_bytes().startswith(good) and store.read_bytes().count(b"\n") == 2


def test_effects_journal_ignores_a_torn_record(tmp_path: Path, lab_bin: Path) -> None:
    journal = tmp_path / "journal.log"
    good = _record({"job": "j1", "from": "alice", "to": "bob", "amount": 10, "worker": "w"})
    corrupt = good.replace(b"j1", b"j2")  # same length, checksum no longer matches
    journal.write_bytes(good + corrupt)
    env = {"DATA_DIR": str(tmp_path), "LEDGER_COMMIT": "journal"}
    with _service(lab_bin / "lab-effects", env) as (port, _):
        assert _ask(port, "COUNT j1") == "1"
        assert _ask(port, "COUNT j2") == "0"
        assert _ask(port, "TOTAL") == "1000"
        assert journal.read_bytes() == good
    assert (tmp_path / "accounts" / "bob").read_text() == "510\n"  # the view follows the journal
