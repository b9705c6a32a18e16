"""crash(svc, lose_unsynced=True) on a real PostgreSQL 15 (tests/crash/specs/pg_async_commit.star):
with synchronous_commit=off acknowledged commits are lost, with the default (on) none."""

from __future__ import annotations

import re
from pathlib import Path

from tests.sources.conftest import needs_postgres, run_spec

SPEC = Path(__file__).resolve().parent / "specs" / "pg_async_commit.star"


@needs_postgres
def test_async_commit_loses_acknowledged_commits_sync_commit_none(tmp_path: Path) -> None:
    run = run_spec(SPEC, tmp_path)
    off, on = "test_async_commit_loses_acknowledged_commits", "test_sync_commit_loses_none"
    assert run.result(off) == "pass", run.section(off)
    assert run.result(on) == "pass", run.section(on)
    lost = re.search(
        r"synchronous_commit=off: (\d+) of (\d+) acknowledged commits lost", run.output
    )
    assert lost is not None and 0 < int(lost[1]) <= int(lost[2]), run.output
    assert "synchronous_commit=on: 0 of 40 acknowledged commits lost" in run.output
    # what the journal undid: un-fsynced bytes of a WAL segment (off), none of it (on)
    wal_off = [e for e in run.events(off, "unsynced_dropped") if "/pg_wal/" in e["fields"]["path"]]
    assert wal_off and all(int(e["fields"]["bytes"]) > 0 for e in wal_off)
    assert not [e for e in run.events(on, "unsynced_dropped") if "/pg_wal/" in e["fields"]["path"]]
    # the data directory postgres-fresh copied (and synced) survived the crash: a dropped file
    # of the cluster is one PostgreSQL wrote after it started, never one of the ~1000 copied
    for name in (off, on):
        dropped = run.events(name, "unsynced_dropped")
        assert len(dropped) < 30, [e["fields"]["path"] for e in dropped]
        assert [e["type"] for e in run.events(name) if e["type"] in ("crash", "restart")] == [
            "crash",
            "restart",
        ]
