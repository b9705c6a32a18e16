"""A misspelled filter cannot make assert_never pass vacuously."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_faultbox, shown, write_demo_spec


@pytest.mark.parametrize(
    ("body", "expect"),
    [
        (
            """
            def test_typo_key():
                def body():
                    db.send(data="PING")
                    assert_never(service="db", decison="deny*")
                trace(db, syscalls=["write"], run=body)
            """,
            "assert_never(): unknown filter decison= (did you mean decision=?)",
        ),
        (
            """
            def test_typo_type():
                assert_never(type="syscal")
            """,
            "assert_never(): unknown event type 'syscal' (did you mean 'syscall'?)",
        ),
    ],
    ids=["key", "type"],
)
def test_misspelled_filters_are_load_errors(
    tmp_path: Path, demo_bin: Path, body: str, expect: str
) -> None:
    # Refused before any service starts, at the query's line, even in a test body.
    spec, _, _ = write_demo_spec(tmp_path / "spec.star", demo_bin, body)
    proc = run_faultbox("test", str(spec))
    assert proc.returncode == 1, proc.stderr
    first = proc.stderr.strip().splitlines()[0]
    assert first.startswith(f"error: {shown(spec)}:"), first
    assert expect in first, first


def test_fields_of_decoded_logs_are_filters(tmp_path: Path, demo_bin: Path) -> None:
    spec, _, _ = write_demo_spec(
        tmp_path / "spec.star",
        demo_bin,
        """
        def test_field_of_decoded_logs():
            assert_never(type="stdout", level="ERROR")
            assert_eventually(type="stdout", op="startup")
        """,
    )
    proc = run_faultbox("test", str(spec))
    assert "--- PASS: test_field_of_decoded_logs" in proc.stderr, proc.stderr
    assert proc.returncode == 0
