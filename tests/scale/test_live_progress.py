"""-j N on a terminal: a live line of tests done / running / failed under the blocks; off a
terminal no such line (the blocks and the totals only)."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

# No services: nothing binds a port, so these runs need no lock.
_PLAIN = "".join(
    f"def test_{c}():\n    assert_true({'False' if c == 'c' else 'True'})\n" for c in "abcde"
)


def _run(spec: Path, on_tty: bool) -> tuple[int, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "faultbox.cli", "test", str(spec), "-j", "2"]
    if not on_tty:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        return proc.returncode, proc.stderr
    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, env=env, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the terminal's other end is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return proc.wait(timeout=120), b"".join(chunks).decode(errors="replace")


def test_a_live_line_on_a_terminal(tmp_path: Path) -> None:
    (tmp_path / "plain.star").write_text(_PLAIN)
    code, out = _run(tmp_path / "plain.star", on_tty=True)
    assert code == 2, out
    # Drawn as the counts change: two workers running before any test finished, the
    # failure counted once test_c ended, then the last state.
    assert "0/5 done · 2 running · 0 failed" in out
    assert re.search(r"[345]/5 done · [012] running · 1 failed", out), out
    assert "5/5 done · 0 running · 1 failed" in out
    assert "1 failed" in out and "--- FAIL: test_c" in out
    assert out.rstrip().endswith("4 passed, 1 failed")  # the line is gone before the totals


def test_no_live_line_off_a_terminal(tmp_path: Path) -> None:
    (tmp_path / "plain.star").write_text(_PLAIN)
    code, err = _run(tmp_path / "plain.star", on_tty=False)
    assert code == 2, err
    assert " running · " not in err
    assert "--- FAIL: test_c" in err and "--- PASS: test_e" in err
    assert err.rstrip().endswith("4 passed, 1 failed")
