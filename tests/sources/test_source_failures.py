"""An assertion over a failed event source cannot pass; source errors and notes are printed.

Real PostgreSQL (a PANIC on a denied WAL fdatasync, a killed server, a misspelled table), real
Redis (a rejected poll command, a killed server) and the Tansu broker (a missing topic, a
killed broker), run with `faultbox test`.
"""

from __future__ import annotations

from pathlib import Path

from tests.sources.conftest import SPECS, needs_postgres, needs_redis, needs_tansu, run_spec

PROVEN = "cannot be proven: the wal_stream of postgres lost its connection at #"


@needs_postgres
def test_a_broken_wal_stream_fails_queries_over_wal_events(tmp_path: Path) -> None:
    run = run_spec(SPECS / "failures_pg.star", tmp_path)
    # PANIC on the denied WAL fdatasync: the assert_never used to pass over a dead stream.
    panic = run.tests["test_panic_on_denied_wal_fdatasync"]
    assert panic["result"] == "fail", run.section("test_panic_on_denied_wal_fdatasync")
    assert panic["reason"].startswith("assert_never: " + PROVEN), panic["reason"]
    assert "PANIC:  could not fdatasync" in run.section("test_panic_on_denied_wal_fdatasync")
    (err,) = run.events("test_panic_on_denied_wal_fdatasync", "source_error")
    assert err["fields"]["source"] == "wal_stream"
    assert f"at #{err['seq']}:" in panic["reason"]
    # A server killed mid-test (crash(): an expected exit, so the source is the reason).
    crashed = run.tests["test_crash_mid_test"]
    assert crashed["result"] == "fail"
    assert crashed["reason"].startswith("assert_never: " + PROVEN), crashed["reason"]
    events_call = run.tests["test_events_over_a_broken_stream"]
    assert events_call["reason"].startswith("events: " + PROVEN), events_call["reason"]
    # What was observed before the break stays proven; the error is printed in the PASS block.
    name = "test_eventually_found_before_the_crash_passes"
    assert run.result(name) == "pass", run.section(name)
    assert "  WARNING: the wal_stream of postgres lost its connection:" in run.section(name)
    codes = [d["code"] for d in run.tests[name]["diagnostics"]]
    assert "SOURCE_ERROR" in codes


@needs_postgres
def test_a_misspelled_table_says_which_tables_changed(tmp_path: Path) -> None:
    run = run_spec(SPECS / "failures_typo.star", tmp_path)
    note = (
        'wal_stream(tables=["ordrs"]) of postgres recorded no change to ordrs; the stream '
        "saw changes only to other tables: orders (2), audit (1)"
    )
    assert run.result("test_typo_passes_with_a_note") == "pass"
    assert f"  NOTE: {note}" in run.section("test_typo_passes_with_a_note")
    failed = run.tests["test_typo_eventually_says_which_tables"]
    assert failed["result"] == "fail"
    assert f"  note: {note}" in failed["reason"]


@needs_redis
def test_a_rejected_or_dead_poll_says_what_the_server_said(tmp_path: Path) -> None:
    run = run_spec(SPECS / "failures_redis.star", tmp_path)
    rejected = run.tests["test_rejected_command"]
    assert rejected["result"] == "fail"
    assert rejected["reason"].startswith(
        'assert_never: cannot be proven: the poll("GETT session") of bad was rejected by the '
        "server at #"
    ), rejected["reason"]
    assert "ERR unknown command 'GETT'" in rejected["reason"]
    # A query over another service's poll is not over the failed one; its block shows the error.
    name = "test_other_service_is_not_over_the_bad_poll"
    assert run.result(name) == "pass", run.section(name)
    assert (
        '  WARNING: the poll("GETT session") of bad was rejected by the server: '
        "ERR unknown command 'GETT'"
    ) in run.section(name)
    killed = run.tests["test_killed_server"]
    assert killed["result"] == "fail"
    assert (
        'cannot be proven: the poll("GET k") of good lost its connection at #' in (killed["reason"])
    ), killed["reason"]


@needs_tansu
def test_a_missing_topic_says_so_and_a_dead_broker_fails(tmp_path: Path) -> None:
    run = run_spec(SPECS / "failures_kafka.star", tmp_path)
    note = (
        'topic("ordr-events") of kafka: the topic does not exist on the broker, so no message '
        "was read (topics on the broker: order-events)"
    )
    assert run.result("test_missing_topic_passes_with_a_note") == "pass"
    assert f"  NOTE: {note}" in run.section("test_missing_topic_passes_with_a_note")
    failed = run.tests["test_missing_topic_eventually_says_so"]
    assert f"  note: {note}" in failed["reason"], failed["reason"]
    killed = run.tests["test_killed_broker"]
    assert killed["result"] == "fail"
    assert killed["reason"].startswith(
        'assert_never: cannot be proven: the topic("ordr-events") of kafka lost its connection '
        "to the broker at #"
    ), killed["reason"]
