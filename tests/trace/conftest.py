"""Fixtures for the trace package tests (helpers live in tracekit.py)."""

from __future__ import annotations

import pytest
from tracekit import TraceBuilder, make_result, order_trace, slow_wal_rule

from faultbox.trace.events import Event
from faultbox.trace.results import SuiteResult


@pytest.fixture
def builder() -> TraceBuilder:
    return TraceBuilder()


@pytest.fixture
def order_events() -> list[Event]:
    return order_trace().events()


@pytest.fixture
def suite() -> SuiteResult:
    ok = make_result(
        "test_wal_written", True, rules=[slow_wal_rule()], assertions=2, trace_assertions=1
    )
    bad = make_result(
        "test_zz_flaky",
        False,
        seed=7,
        reason="assert_eq failed: 503 != 200",
        failure_type="assertion",
        rules=[slow_wal_rule()],
    )
    return SuiteResult(star_file="traces-test.star", results=[ok, bad], duration_ms=500)
