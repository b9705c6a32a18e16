"""A misspelled filter cannot make assert_never pass vacuously."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_faultbox, write_demo_spec


def test_misspelled_filters_fail_with_a_suggestion(tmp_path: Path, demo_bin: Path) -> None:
    spec, _, _ = write_demo_spec(
        tmp_path / "spec.star",
        demo_bin,
        """
        def test_typo_key():
            def body():
                db.send(data="PING")
                assert_never(service="db", decison="deny*")
            trace(db, syscalls=["write"], run=body)
        def test_typo_type():
            assert_never(type="syscal")
        def test_field_of_decoded_logs():
            assert_never(type="stdout", level="ERROR")
            assert_eventually(type="stdout", op="startup")
        """,
    )
    proc = run_faultbox("test", str(spec))
    err = proc.stderr
    assert "unknown filter decison= (did you mean decision=?)" in err
    assert "unknown event type 'syscal' (did you mean 'syscall'?)" in err
    assert "--- PASS: test_field_of_decoded_logs" in err, err
    assert proc.returncode == 2
