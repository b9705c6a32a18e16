"""Specs written from the issue text and the docs alone (tests/crash/specs/crash_kinds.star,
crash_compose.star) on real Redis 7: everysec vs always, a torn AOF tail, a plain kill, event
queries, a restarted dependency, crashes inside fault_scenario / fault_matrix, monitors on
lifecycle events."""

from __future__ import annotations

import re
from pathlib import Path

from tests.sources.conftest import needs_redis, run_spec

SPECS = Path(__file__).resolve().parent / "specs"

REDIS = """
r = service("r", "/usr/bin/redis-server", interface("main", "redis", 16457),
    args = ["--port", "16457", "--bind", "127.0.0.1", "--dir", "{tmpdir}", "--save", "",
            "--appendonly", "yes", "--appendfsync", "everysec"],
    healthcheck = tcp("localhost:16457"))
"""


@needs_redis
def test_crash_kinds(tmp_path: Path) -> None:
    run = run_spec(SPECS / "crash_kinds.star", tmp_path)
    assert run.returncode == 0, run.output
    assert len(run.tests) == 5
    everysec = re.search(r"everysec: (\d+) of 200 acknowledged SETs lost", run.output)
    assert everysec is not None and int(everysec[1]) > 0
    torn = re.search(r"torn: (\d+) of 50 acknowledged SETs lost", run.output)
    assert torn is not None and 0 < int(torn[1]) < 50  # a prefix survived the tear
    drops = run.events("test_torn_aof_tail_is_truncated_on_load", "unsynced_dropped")
    assert [int(d["fields"]["torn_kept"]) > 0 for d in drops] == [True]


@needs_redis
def test_crash_in_scenarios_and_matrices(tmp_path: Path) -> None:
    run = run_spec(SPECS / "crash_compose.star", tmp_path)
    assert run.returncode == 0, run.output
    assert sorted(run.tests) == [
        "test_crash_under_slow_disk",
        "test_matrix_write_crash_restart_slow_disk",
        "test_matrix_write_crash_restart_slow_replica",
        "test_restart_of_a_dependency",
    ]
    for name in run.tests:
        kinds = [e["type"] for e in run.events(name) if e["type"] in ("crash", "restart")]
        assert kinds == ["crash", "restart"], name


@needs_redis
def test_a_monitor_on_lifecycle_events_fires(tmp_path: Path) -> None:
    # monitors used to see only syscall/stdout/… events: type="crash" never fired
    spec = tmp_path / "mon.star"
    spec.write_text(
        REDIS
        + 'plain = monitor(lambda e: fail("a plain kill"), type = "crash", lose_unsynced = "false")\n'
        + "def go():\n    crash(r, lose_unsynced = True)\n    restart(r)\n    crash(r)\n"
        + 'fault_scenario("crashes", scenario = go, faults = [], monitors = [plain])\n'
    )
    run = run_spec(spec, tmp_path)
    assert run.result("test_crashes") == "fail"
    assert "monitor violation: lambda: a plain kill" in run.section("test_crashes")


@needs_redis
def test_crash_of_a_crashed_service_says_what_to_do(tmp_path: Path) -> None:
    spec = tmp_path / "twice.star"
    spec.write_text(REDIS + "def test_twice():\n    crash(r)\n    crash(r, lose_unsynced = True)\n")
    run = run_spec(spec, tmp_path)
    assert run.returncode == 2
    assert (
        "crash(r): the service is not running (it was killed by SIGKILL); restart(r) starts it"
        in run.output
    ), run.output
    assert "Traceback" not in run.output
