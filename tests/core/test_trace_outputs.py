"""Trace outputs of real runs: determinism, diff, ShiViz, JSON schema, JUnit, --format json."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import REPO, run_faultbox

CH4 = "examples/ch04/traces-test.star"
SHIVIZ_LINE = re.compile(r"(?P<host>\S+) (?P<clock>\{.*?\}) (?P<event>.*)")


@pytest.fixture(scope="module")
def built(demo_bin: Path) -> Path:
    return demo_bin


def _normalized(tmp_path: Path, name: str, env: dict[str, str] | None = None) -> Path:
    out = tmp_path / f"{name}.norm"
    proc = run_faultbox("test", CH4, "--test", "wal_written", "--normalize", str(out), env=env)
    assert proc.returncode == 0, proc.stderr
    return out


def test_normalized_trace_is_identical_over_20_runs(built: Path, tmp_path: Path) -> None:
    first = _normalized(tmp_path, "run0").read_bytes()
    assert b"write delay(100ms) /tmp/inventory.wal" in first
    for i in range(1, 20):
        assert _normalized(tmp_path, f"run{i}").read_bytes() == first, f"run {i} differs"


def test_diff_shows_the_double_write_as_one_extra_line(built: Path, tmp_path: Path) -> None:
    before = _normalized(tmp_path, "before")
    after = _normalized(tmp_path, "after", env={"INVENTORY_DOUBLE_WRITE": "1"})
    same = run_faultbox("diff", str(before), str(before))
    assert same.returncode == 0 and same.stdout.strip() == "traces are identical"
    proc = run_faultbox("diff", str(before), str(after), "--no-color")
    assert proc.returncode == 2
    added = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip().startswith("+ ")]
    removed = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip().startswith("- ")]
    assert added == ["+ write delay(100ms) /tmp/inventory.wal"], proc.stdout
    assert removed == []
    n_before = len(before.read_text().strip().splitlines())
    assert f"traces differ ({n_before} vs {n_before + 1} lines)" in proc.stdout


def test_diff_of_unreadable_input_exits_1(tmp_path: Path) -> None:
    proc = run_faultbox("diff", str(tmp_path / "nope.norm"), str(tmp_path / "nope2.norm"))
    assert proc.returncode == 1
    assert "cannot read" in proc.stderr


def test_shiviz_json_and_junit_of_a_real_run(built: Path, tmp_path: Path) -> None:
    spec = tmp_path / "spec.star"
    # Two tests from chapter 4 plus one that fails, so every output has a failure too.
    source = (REPO / CH4).read_text().replace('BIN = "bin"', f'BIN = "{REPO}/bin"')
    source += "\ndef test_zz_fails():\n    assert_eq(orders.get(path='/health').status, 418)\n"
    spec.write_text(source)
    files = {k: tmp_path / f"out.{k}" for k in ("shiviz", "json", "xml")}
    proc = run_faultbox(
        "test", str(spec), "--test", "*_w*",  # wal_written, write_count, ...
        "--shiviz", str(files["shiviz"]), "--output", str(files["json"]),
        "--junit", str(files["xml"]),
    )  # fmt: skip
    proc_fail = run_faultbox("test", str(spec), "--test", "zz_fails", "--output",
                             str(tmp_path / "fail.json"), "--junit", str(tmp_path / "fail.xml"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc_fail.returncode == 2

    # ShiViz: the header regex, then one parseable line per event; hosts = services + test.
    lines = files["shiviz"].read_text().splitlines()
    assert lines[0] == r"(?<host>\S+) (?<clock>\{.*?\}) (?<event>.*)"
    assert lines[1] == ""
    hosts: dict[str, int] = {}
    for line in lines[2:]:
        m = SHIVIZ_LINE.fullmatch(line)
        assert m, line
        clock = json.loads(m["clock"])
        host = m["host"]
        assert clock[host] > hosts.get(host, 0), f"{host} clock did not increase: {line}"
        hosts[host] = clock[host]
    assert set(hosts) == {"inventory", "orders", "test"}

    # JSON validates against the published schema; failures carry a replay command.
    schema = json.loads((REPO / "faultbox" / "schemas" / "trace.schema.json").read_text())
    for path in (files["json"], tmp_path / "fail.json"):
        doc = json.loads(path.read_text())
        jsonschema.validate(doc, schema)
    failed = json.loads((tmp_path / "fail.json").read_text())["tests"][0]
    assert failed["result"] == "fail"
    assert failed["replay_command"].endswith("--test zz_fails --seed 0")
    ok = json.loads(files["json"].read_text())
    assert ok["pass"] == len(ok["tests"]) >= 2 and ok["fail"] == 0
    assert any(ev["type"] == "syscall" for t in ok["tests"] for ev in t["events"])

    # JUnit: well-formed, counts match.
    for path, tests, failures in ((files["xml"], ok["pass"], 0), (tmp_path / "fail.xml", 1, 1)):
        root = ET.parse(path).getroot()
        suite = root if root.tag == "testsuite" else root.find("testsuite")
        assert suite is not None
        assert int(suite.get("tests")) == tests
        assert int(suite.get("failures")) == failures
        assert len(suite.findall("testcase")) == tests


def test_format_json_prints_only_json_on_stdout(built: Path) -> None:
    proc = run_faultbox("test", CH4, "--test", "happy_path", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["tests"][0]["name"] == "test_happy_path"
    assert "1 passed, 0 failed" in proc.stderr


def test_own_events_follow_the_syscalls_buffered_before_them(built: Path, tmp_path: Path) -> None:
    """With records delivered only when someone asks (a 60 s periodic flush), readiness,
    fault and step events still come after every syscall made before them."""
    out = tmp_path / "slow-flush.norm"
    code = (
        "import sys, faultbox.intercept.periodic as p; p.FLUSH_EVERY_S = 60.0; "
        "from faultbox.cli import main; sys.argv[0] = 'faultbox'; main()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "test", CH4, "--test", "wal_written", "--normalize", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = out.read_text().splitlines()
    inventory = lines[lines.index("--- inventory ---") + 1 : lines.index("--- orders ---")]
    ready = inventory.index("service_ready")
    assert inventory[0] == "service_started"
    # The interpreter's start-up (its own files, the demo's modules) all happened before
    # the port answered, so all of it is listed before service_ready ...
    assert any("inventory-svc" in ln for ln in inventory[1:ready]), inventory
    # ... and nothing happens between readiness and the fault but the fault itself.
    assert inventory[ready + 1] == "fault_applied", inventory
    assert "write delay(100ms) /tmp/inventory.wal" in inventory[ready + 2 : -1]
    assert inventory[-1] == "fault_removed"
