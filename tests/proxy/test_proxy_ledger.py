"""Acceptance specs written from the issue's descriptions alone, in a user's style: ledger-app
(psycopg2 and libpq's extended protocol, redis-py, an HTTP dependency), configured with the
real servers' addresses, against real PostgreSQL 15 and Redis 7 under real seccomp."""

from __future__ import annotations

from pathlib import Path

from .conftest import needs_postgres, needs_redis, run_spec


def _insert_actions(run_tests: dict[str, dict[str, object]], name: str) -> list[str]:
    events = run_tests[name]["events"]
    assert isinstance(events, list)
    return [e["fields"]["action"] for e in events
            if e["type"] == "proxy" and e["fields"].get("query", "").startswith("INSERT")]  # fmt: skip


@needs_postgres
@needs_redis
def test_sql_error_on_inserts_simple_and_extended(tmp_path: Path) -> None:
    run = run_spec("ledger_sql.star", tmp_path)
    assert run.returncode == 0, run.output
    refused = [e for e in run.events("test_inserts_refused_selects_pass", "proxy")
               if e["fields"]["action"] == "error"]  # fmt: skip
    assert [e["fields"]["query"] for e in refused] == [
        "INSERT INTO ledger (amount) VALUES (5)",  # psycopg2: simple query
        "INSERT INTO ledger (amount) VALUES ($1)",  # libpq PQexecParams: Parse
    ]


@needs_postgres
@needs_redis
def test_probability_is_drawn_from_the_seed(tmp_path: Path) -> None:
    name = "test_probability_from_seed"
    draws = []
    for i, seed in enumerate(("7", "7", "8")):
        (tmp_path / str(i)).mkdir()
        run = run_spec("ledger_sql.star", tmp_path / str(i), "--test", "probability_from_seed",
                       "--seed", seed)  # fmt: skip
        assert run.returncode == 0, run.output
        draws.append(_insert_actions(run.tests, name))
    assert len(draws[0]) == 20 and set(draws[0]) == {"pass", "error"}, draws[0]
    assert draws[0] == draws[1]  # same seed: the same requests refused
    assert draws[0] != draws[2]  # another seed: other draws


@needs_postgres
@needs_redis
def test_redis_set_refused_between_fault_start_and_stop(tmp_path: Path) -> None:
    run = run_spec("ledger_sessions.star", tmp_path)
    assert run.returncode == 0, run.output
    sets = [e for e in run.events("test_set_refused_while_get_works", "proxy")
            if e["fields"].get("command") == "SET"]  # fmt: skip
    assert [(e["fields"]["client"], e["fields"]["action"]) for e in sets] == [
        ("ledger", "pass"), ("ledger", "error"), ("ledger", "pass")]  # fmt: skip


@needs_postgres
@needs_redis
def test_http_503_scenario_and_matrix(tmp_path: Path) -> None:
    run = run_spec("ledger_scenarios.star", tmp_path)
    assert run.returncode == 0, run.output
    for cell in ("ledger_full", "quotes_down", "readonly"):
        assert run.result(f"test_matrix_place_order_{cell}") == "pass"
    name = "test_sql_aof_and_slow_sends"
    delayed = {(e["service"], e["fields"]["syscall"], e["fields"].get("op", ""))
               for e in run.events(name, "syscall") if e["fields"]["decision"].startswith("delay")}  # fmt: skip
    assert any(s == "cache" and op == "append" for s, _, op in delayed), delayed
    assert any(s == "ledger" and sc in ("sendto", "sendmsg") for s, sc, _ in delayed), delayed
    quote = run.events("test_quote_service_answers_503", "proxy")
    assert [(e["fields"]["action"], e["fields"].get("status")) for e in quote
            if e["service"] == "quotes"] == [("pass", "200"), ("error", "503"), ("pass", "200")]  # fmt: skip
