"""Protocol faults end to end: real PostgreSQL, Redis and HTTP apps that are not told about
any proxy (their configuration names the real server), under real seccomp.

Each test runs one spec of tests/proxy/specs with `faultbox test` and checks both its verdicts
and the trace JSON it wrote.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import needs_postgres, needs_redis, run_spec


@needs_redis
@pytest.mark.parametrize("backend", ["native", "python"])
def test_redis_set_refused_get_passes(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAULTBOX_SUPERVISOR", backend)
    run = run_spec("redis_cache.star", tmp_path)
    assert run.returncode == 0, run.output
    connects = [e for e in run.events("test_set_refused_get_passes", "syscall")
                if e["service"] == "app" and e["fields"].get("syscall") == "connect"]  # fmt: skip
    assert any(e["fields"]["decision"] == "allow (proxied)" for e in connects), connects
    proxy = run.events("test_set_refused_get_passes", "proxy")
    refused = [e for e in proxy if e["fields"].get("action") == "error"]
    assert len(refused) == 1 and refused[0]["fields"]["client"] == "app"
    assert refused[0]["service"] == "redis"


@needs_postgres
def test_postgres_insert_refused_select_passes(tmp_path: Path) -> None:
    run = run_spec("pg_store.star", tmp_path)
    for name in ("test_insert_refused_select_passes", "test_step_and_extended_protocol",
                 "test_rule_that_never_matched_is_reported"):  # fmt: skip
        assert run.result(name) == "pass", run.output
    assert run.returncode == 0
    section = run.output[run.output.index("test_rule_that_never_matched_is_reported") :]
    assert "never matched (0 hits)" in section
    assert "requests seen: SELECT count(*) FROM items" in section


def test_http_503_between_two_services(tmp_path: Path) -> None:
    run = run_spec("http_chain.star", tmp_path)
    assert run.returncode == 0, run.output
    delayed = [e for e in run.events("test_response_and_delay_on_step", "proxy")
               if e["fields"]["action"] == "delay"]  # fmt: skip
    assert len(delayed) == 1 and float(delayed[0]["fields"]["latency_ms"]) >= 300


@needs_postgres
@needs_redis
def test_chapter12_three_approaches_in_one_fault_scenario(tmp_path: Path) -> None:
    run = run_spec("chapter12.star", tmp_path)
    assert run.returncode == 0, run.output
    name = "test_three_approaches"
    refused = [e for e in run.events(name, "proxy") if e["fields"]["action"] == "error"]
    assert [e["fields"]["query"] for e in refused] == ["INSERT INTO items (name) VALUES ('widget')"]
    decided = {
        (e["service"], e["fields"]["syscall"], e["fields"].get("op", ""))
        for e in run.events(name, "syscall")
        if e["fields"]["decision"].startswith("delay")
    }
    assert ("app", "recvfrom", "") in decided, decided  # the raw syscall fault
    assert any(s == "redis" and op == "persist" for s, _, op in decided), decided  # named op
    assert run.result("test_matrix_order_sql_refused") == "pass"


def test_criterion_the_protocol_lacks_is_a_load_error(tmp_path: Path) -> None:
    spec = tmp_path / "bad.star"
    spec.write_text(
        'cache = service("cache", "/usr/bin/redis-server", interface("main", "redis", 16390))\n'
        'x = fault_assumption("x", target=cache.main, rules=[error(query="INSERT*")])\n'
        "def test_a():\n    pass\n"
    )
    run = run_spec(str(spec), tmp_path)
    assert run.returncode == 1
    assert "bad.star:2" in run.output and "has no query= criterion" in run.output, run.output


def test_criterion_in_a_test_body_is_a_load_error(tmp_path: Path) -> None:
    spec = tmp_path / "bad_body.star"
    spec.write_text(
        'web = service("web", "/usr/bin/redis-server", interface("api", "http", 16391))\n'
        "def test_a():\n"
        '    fault(web.api, error(command="SET"), run=lambda: None)\n'
    )
    run = run_spec(str(spec), tmp_path)
    assert run.returncode == 1
    assert "bad_body.star:3" in run.output and "has no command= criterion" in run.output
