"""What the console, JSON and JUnit say about real runs: faults that never fired, crashes
explained by the output lines that say why, exits during passing tests, and which passing
fault tests checked nothing. Real services under real seccomp, through the ``faultbox`` CLI.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.conftest import free_port, run_faultbox, write_demo_spec


def _block(stderr: str, name: str) -> str:
    """The console block of test ``name`` (from its header to the next blank line)."""
    start = stderr.index(f"--- PASS: {name} (") if f"--- PASS: {name} (" in stderr else None
    if start is None:
        start = stderr.index(f"--- FAIL: {name} (")
    end = stderr.find("\n\n", start)
    return stderr[start : end if end != -1 else None]


def _cells(err: str, doc: dict, scenario: str) -> dict[str, str]:
    """The table row of ``scenario``: fault -> cell text."""
    row = next(ln for ln in err.splitlines() if ln.startswith(f"{scenario} ") and "│" in ln)
    texts = [c.strip() for c in row.split("│")[1:]]
    return dict(zip(doc["matrix"]["faults"], texts, strict=True))


def _junit_case(path: Path, name: str) -> ET.Element:
    return next(c for c in ET.parse(path).iter("testcase") if c.get("name") == name)


def test_ch10_generated_matrix_never_hides_a_fault_that_did_not_fire(
    tmp_path: Path, demo_bins: Path, fbx
) -> None:
    """Acceptance (issue 10.2): no cell of the generated ch10 matrix passes with a fault
    that never fired without the console saying so (its block, the table, the summary)."""
    work = fbx.workdir(tmp_path, demo_bins, "ch10/scenario-test.star")
    assert fbx.faultbox("generate", "scenario-test.star", cwd=work).returncode == 0
    proc = fbx.faultbox(
        "test", "order_flow.faults.star", "--test", "matrix_*",
        "--output", "out.json", "--junit", "junit.xml", cwd=work,
    )  # fmt: skip
    err = proc.stderr
    assert proc.returncode == 0, err
    doc = json.loads((work / "out.json").read_text())
    tests = {t["name"]: t for t in doc["tests"]}
    texts = _cells(err, doc, "order_flow")
    quiet = 0
    for c in doc["matrix"]["cells"]:
        name = f"test_matrix_{c['scenario']}_{c['fault']}"
        rules = [f for f in tests[name]["faults"] if f["kind"] != "trace"]
        assert c["faults_fired"] == all(f["hits"] > 0 for f in rules), name
        if c["passed"] and not c["faults_fired"]:
            quiet += 1
            block = _block(err, name)
            for f in rules:
                if f["hits"] == 0:
                    rule = f"{f['syscall']}="
                    assert f"WARNING: fault rule {rule}" in block and "never fired" in block
            assert re.fullmatch(r"PASS\* \(\d+ms\)", texts[c["fault"]]), texts
            assert tests[name]["faults_not_fired"]
            case = _junit_case(work / "junit.xml", name)
            assert "faults_not_fired" in {p.get("name") for p in case.iter("property")}
        else:
            assert f"--- PASS: {name} " not in err  # fired: the table says it all
            assert re.fullmatch(r"PASS \(\d+ms\)", texts[c["fault"]]), texts
    assert doc["matrix"]["passed_without_fault"] == quiet
    if quiet:
        assert "* passed, but a fault of the cell never fired (see below)" in err
        assert f"({quiet} passed without {'its' if quiet == 1 else 'their'} fault firing)" in err


def test_a_matrix_cell_whose_fault_never_fired_is_marked_everywhere(
    tmp_path: Path, demo_bins: Path, fbx
) -> None:
    """mock-db never calls fsync: the fsync_failure cell passes without its fault firing."""
    work = fbx.workdir(tmp_path, demo_bins, "ch10/scenario-test.star")
    (work / "matrix.star").write_text(
        'load("scenario-test.star", "api", "db", "order_flow")\n'
        'disk_io_error = fault_assumption("disk_io_error", target = db, write = deny("EIO"))\n'
        'fsync_failure = fault_assumption("fsync_failure", target = db, fsync = deny("EIO"))\n'
        "fault_matrix(scenarios = [order_flow], faults = [disk_io_error, fsync_failure])\n"
    )
    proc = fbx.faultbox(
        "test", "matrix.star", "--output", "out.json", "--junit", "junit.xml", cwd=work
    )
    err = proc.stderr
    assert proc.returncode == 0, err
    block = _block(err, "test_matrix_order_flow_fsync_failure")
    assert (
        "  WARNING: fault rule fsync=deny(EIO) on db was installed but never fired (0 hits), "
        "no fsync call was intercepted" in block
    )
    assert "--- PASS: test_matrix_order_flow_disk_io_error" not in err
    doc = json.loads((work / "out.json").read_text())
    texts = _cells(err, doc, "order_flow")
    assert re.fullmatch(r"PASS \(\d+ms\)", texts["disk_io_error"])
    assert re.fullmatch(r"PASS\* \(\d+ms\)", texts["fsync_failure"])
    assert "* passed, but a fault of the cell never fired (see below)" in err
    assert "Result: 2/2 passed (1 passed without its fault firing)" in err
    assert "Faults that never fired:\n  order_flow × fsync_failure: fsync=deny(EIO) on db" in err
    assert [c["faults_fired"] for c in doc["matrix"]["cells"]] == [True, False]
    assert doc["matrix"]["passed_without_fault"] == 1
    test = next(t for t in doc["tests"] if t["name"] == "test_matrix_order_flow_fsync_failure")
    (entry,) = test["faults_not_fired"]
    assert (entry["service"], entry["syscall"], entry["spec"], entry["calls"]) == (
        "db", "fsync", "deny(EIO)", 0,
    )  # fmt: skip
    case = _junit_case(work / "junit.xml", "test_matrix_order_flow_fsync_failure")
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["faults_not_fired"] == "fsync=deny(EIO) on db"
    assert case.find("system-out").text.startswith(
        "warning: fault fsync=deny(EIO) on db never fired (no fsync call was intercepted)"
    )


def _script(path: Path, body: str) -> str:
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body).lstrip())
    path.chmod(0o755)
    return str(path)


# A TCP service: answers "bye" to "quit" and then exits with code 1; crashes on "boom" with a
# Python traceback, and its shutdown hook then writes 20 lines, so the traceback is not among
# the last 10 lines of its output.
SERVICE = """
    import atexit, os, socket, sys

    def handle(word):
        return {"ping": "pong"}[word]

    def cleanup():
        for i in range(20):
            print(f"closing worker {i}", file=sys.stderr, flush=True)

    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(os.environ["PORT"])))
    s.listen()
    print("ready", file=sys.stderr, flush=True)
    while True:
        conn, _ = s.accept()
        word = conn.recv(100).decode().strip()
        if not word:  # the healthcheck
            conn.close()
            continue
        if word == "quit":
            conn.sendall(b"bye\\n")
            conn.close()
            sys.exit(1)
        atexit.register(cleanup)
        conn.sendall((handle(word) + "\\n").encode())
        conn.close()
"""


def _svc_spec(tmp_path: Path, tests: str) -> Path:
    port = free_port()
    binary = _script(tmp_path / "svc.py", SERVICE)
    spec = tmp_path / "spec.star"
    spec.write_text(
        f'svc = service("svc", "{binary}", interface("main", "tcp", {port}),\n'
        f'    env = {{"PORT": "{port}"}}, healthcheck = tcp("localhost:{port}"))\n'
        + textwrap.dedent(tests)
    )
    return spec


def test_a_crash_shows_the_traceback_even_when_it_is_not_in_the_last_lines(
    tmp_path: Path,
) -> None:
    spec = _svc_spec(
        tmp_path,
        """
        def test_boom():
            assert_eq(svc.main.send(data="boom"), "pong")
        """,
    )
    proc = run_faultbox("test", str(spec))
    assert proc.returncode == 2, proc.stderr
    block = _block(proc.stderr, "test_boom")
    out = block[block.index("  output of svc:\n") :].splitlines()[1:]
    assert out[:2] == ["    ready", "    Traceback (most recent call last):"]
    assert "    KeyError: 'boom'" in out
    tail = out.index("    KeyError: 'boom'") + 1
    assert out[tail] == "    … 10 lines elided …"
    assert out[tail + 1 :] == [f"    closing worker {i}" for i in range(10, 20)]


def test_an_exit_during_a_passing_test_is_a_note(tmp_path: Path) -> None:
    spec = _svc_spec(
        tmp_path,
        """
        def test_quit():
            assert_eq(svc.main.send(data="quit"), "bye")
            # wait until faultbox has seen the exit (each events() call looks again)
            for _ in range(1000000):
                if events(type="service_exited", service="svc"):
                    break
        """,
    )
    proc = run_faultbox("test", str(spec), "--output", str(tmp_path / "out.json"))
    assert proc.returncode == 0, proc.stderr
    block = _block(proc.stderr, "test_quit")
    assert "  NOTE: service svc exited during the test (exit code 1, event #" in block
    assert "ERROR" not in block
    (diag,) = json.loads((tmp_path / "out.json").read_text())["tests"][0]["diagnostics"]
    assert (diag["code"], diag["level"]) == ("SERVICE_CRASHED", "info")


def test_an_assertion_on_the_callers_answer_is_not_a_vacuous_pass(
    tmp_path: Path, demo_bin: Path
) -> None:
    spec, _, _ = write_demo_spec(
        tmp_path / "spec.star",
        demo_bin,
        """
        def down():
            return api.post(path="/data/k", body="v")

        def checked():
            assert_eq(down().status, 500)

        def test_checked():
            fault(api, connect=deny("ECONNREFUSED"), run=checked)

        def test_unchecked():
            assert_true(True)
            fault(api, connect=deny("ECONNREFUSED"), run=down)
        """,
        api=True,
    )
    proc = run_faultbox("test", str(spec))
    assert proc.returncode == 0, proc.stderr
    checked = _block(proc.stderr, "test_checked")
    assert "fault rule on api: connect=deny(ECONNREFUSED)" in checked and "hit" in checked
    assert "FAULT_FIRED_BUT_SUCCESS" not in checked and "WARNING" not in checked
    unchecked = _block(proc.stderr, "test_unchecked")
    assert (
        "WARNING: fault rule connect=deny(ECONNREFUSED) on api fired" in unchecked
        and "made no trace assertion and no assertion on a step's answer" in unchecked
    )
