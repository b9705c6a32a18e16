"""crash(svc, lose_unsynced=True) on a real Redis 7: everysec loses acknowledged SETs, always
none (tests/crash/specs/redis_aof_crash.star), on both supervisor loops."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.sources.conftest import needs_redis, run_spec

SPEC = Path(__file__).resolve().parent / "specs" / "redis_aof_crash.star"


@needs_redis
@pytest.mark.parametrize("backend", ["native", "python"])
def test_redis_everysec_loses_always_does_not(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAULTBOX_SUPERVISOR", backend)
    run = run_spec(SPEC, tmp_path)
    for name in ("test_everysec_loses_acknowledged_sets", "test_always_loses_none",
                 "test_plain_crash_loses_none"):  # fmt: skip
        assert run.result(name) == "pass", run.section(name)
    dropped = run.events("test_everysec_loses_acknowledged_sets", "unsynced_dropped")
    assert dropped and all(d["fields"]["path"].endswith(".incr.aof") for d in dropped)
    assert all(int(d["fields"]["bytes"]) > 0 for d in dropped)
    # always fsyncs before every reply: nothing to drop; a plain crash drops nothing either
    assert not run.events("test_always_loses_none", "unsynced_dropped")
    assert not run.events("test_plain_crash_loses_none", "unsynced_dropped")
    crashes = run.events("test_always_loses_none", "crash")
    assert [c["fields"]["lose_unsynced"] for c in crashes] == ["true"] * 3
    assert len(run.events("test_always_loses_none", "restart")) == 3
    assert os.environ["FAULTBOX_SUPERVISOR"] == backend
