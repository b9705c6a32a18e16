"""Chapter 11's container specs and issue 16's acceptance spec, on a real Docker engine.

Images: built locally by tests/containers.sh (docs/containers.md has the mapping of the seed's
image names). Every run must leave no container with a faultbox run label behind.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_faultbox
from tests.containers.fb_containers import EXAMPLES, SPECS, labelled_containers

pytestmark = pytest.mark.usefixtures("engine")


def _run(spec: Path, *args: str) -> Any:
    proc = run_faultbox("test", str(spec), *args, timeout=600)
    assert labelled_containers() == [], "containers of the run remain"
    return proc


def _events(result: dict[str, Any], test: str) -> list[dict[str, Any]]:
    case = next(t for t in result["tests"] if t["name"] == test)
    assert case["result"] == "pass", case
    return list(case["events"])


def test_acceptance_pg_and_redis_with_fsync_denied_inside_postgres(tmp_path: Path) -> None:
    out = tmp_path / "trace.json"
    proc = _run(SPECS / "pg_redis.star", "--output", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    ok = _events(result, "test_order_is_a_wal_insert_and_login_a_redis_value")
    inserts = [e for e in ok if e["type"] == "wal" and e["fields"].get("action") == "INSERT"]
    assert inserts and inserts[0]["service"] == "postgres"
    assert any(e["type"] == "poll" and e["service"] == "redis" for e in ok)
    assert any(e["type"] == "stdout" and e["service"] == "api" for e in ok)
    faulted = _events(result, "test_denied_fsync_inside_postgres")
    denied = [
        e["fields"]
        for e in faulted
        if e["type"] == "syscall" and e["fields"]["decision"].startswith("deny")
    ]
    assert denied, "no denied syscall in the trace"
    assert all(d["syscall"] in ("fsync", "fdatasync") for d in denied)
    # the path as the container sees it (not the overlay's host path)
    assert any(d["path"].startswith("/var/lib/postgresql/data/pg_wal/") for d in denied), denied


@pytest.mark.parametrize(
    ("spec", "passed"),
    [("postgres-wal.star", 3), ("redis-poll.star", 2), ("kafka-topic.star", 4)],
)
def test_chapter11_container_specs_pass_as_written(spec: str, passed: int) -> None:
    proc = _run(EXAMPLES / spec)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert f"{passed} passed, 0 failed" in proc.stdout + proc.stderr


def test_kafka_spec_denies_writes_inside_the_postgres_container() -> None:
    proc = _run(EXAMPLES / "kafka-topic.star", "--test", "no_orphan_events_on_db_failure")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert "deny(input/output error)  [db down]  /var/lib/postgresql/data/" in proc.stderr
