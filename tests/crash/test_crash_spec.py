"""Load-time analysis of crash(): journaling only where a spec asks for it; typos refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from faultbox.starlark_env.loader import load_spec

REPO = Path(__file__).resolve().parents[2]
SPECS = Path(__file__).resolve().parent / "specs"


def test_only_services_crashed_with_lose_unsynced_are_journaled(tmp_path: Path) -> None:
    spec = tmp_path / "s.star"
    spec.write_text(
        'a = service("a", "/bin/sleep", args=["60"])\n'
        'b = service("b", "/bin/sleep", args=["60"])\n'
        'c = service("c", "/bin/sleep", args=["60"])\n'
        "def test_x():\n"
        "    crash(a, lose_unsynced = True, torn = True)\n"
        "    crash(b)\n"
        "    crash(c, lose_unsynced = False)\n"
    )
    loaded = load_spec(spec)
    reg = loaded.registry
    assert reg.journaled == {"a"}
    assert {"pwrite64", "writev", "fdatasync", "ftruncate", "openat"} <= reg.notify_sets["a"]
    assert reg.notify_sets["b"] == set() and reg.notify_sets["c"] == set()


def test_a_misspelled_keyword_is_a_load_error() -> None:
    bad = SPECS / "bad" / "misspelled.star"
    proc = subprocess.run(
        [sys.executable, "-m", "faultbox.cli", "test", str(bad)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    text = proc.stdout + proc.stderr
    assert "misspelled.star:5" in text and "lose_unsyncd" in text
    assert "Traceback" not in text
