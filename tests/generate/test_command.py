"""``faultbox generate`` as a user runs it (subprocess, in a temporary directory)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def ch10(tmp_path: Path, demo_bins: Path, fbx) -> Path:
    return fbx.workdir(tmp_path, demo_bins, "ch10/scenario-test.star", "ch10/multi-scenario.star")


def test_writes_one_file_per_scenario(ch10: Path, fbx) -> None:
    proc = fbx.faultbox("generate", "scenario-test.star", cwd=ch10)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "profiling order_flow: running each scenario once on real services "
        "(--no-profile skips this)",
        "  order_flow: 4 mutations fire, 3 never did",
        "    skipped disk_io_error: db wrote to no file (write 4×, all on sockets or pipes)",
        "    skipped disk_full: db wrote to no file (write 4×, all on sockets or pipes)",
        "    skipped fsync_failure: db never called fsync or fdatasync",
        "wrote order_flow.faults.star",
    ]
    assert proc.stdout == ""
    text = (ch10 / "order_flow.faults.star").read_text()
    assert text.startswith("# ====")
    assert '\nload("scenario-test.star", "api", "db", "order_flow")\n' in text


def test_dry_run_counts_per_target(ch10: Path, fbx) -> None:
    proc = fbx.faultbox("generate", "scenario-test.star", "--dry-run", cwd=ch10)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines()[-3:] == [
        "  order_flow × api: 4 mutations",
        "  Total: 4 mutations",
        "  Skipped: 3 mutations that never fired in the profile run",
    ]
    # Unprofiled: the tutorial's numbers.
    proc = fbx.faultbox("generate", "scenario-test.star", "--dry-run", "--no-profile", cwd=ch10)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "  order_flow × api: 4 mutations",
        "  order_flow × db: 3 mutations",
        "  Total: 7 mutations",
    ]
    assert not (ch10 / "order_flow.faults.star").exists()


def test_two_scenarios_two_files(ch10: Path, fbx) -> None:
    proc = fbx.faultbox("generate", "multi-scenario.star", "--no-profile", cwd=ch10)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "wrote order_flow.faults.star",
        "wrote health_check.faults.star",
    ]
    health = (ch10 / "health_check.faults.star").read_text()
    assert 'load("multi-scenario.star", "api", "db", "health_check")' in health
    assert "def test_health_check_db_partition():" in health
    assert "#   health_check: --no-profile" in health  # the header says it is unchecked


def test_a_scenario_in_which_nothing_fires_gets_no_file(ch10: Path, fbx) -> None:
    """/health never reaches db: no db fault can fire in health_check."""
    proc = fbx.faultbox("generate", "multi-scenario.star", cwd=ch10)
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr.splitlines()
    assert "  health_check: 0 mutations fire, 7 never did" in err
    assert "    skipped db_down: api never connected to db (port 5432)" in err
    assert (
        "    skipped test_health_check_db_partition: api and db never connected to each other"
        in err
    )
    assert err[-2:] == [
        "wrote order_flow.faults.star",
        "note: no mutation fires in health_check; no file written for it",
    ]
    assert not (ch10 / "health_check.faults.star").exists()
    proc = fbx.faultbox("generate", "multi-scenario.star", "--scenario", "health_check", cwd=ch10)
    assert proc.returncode == 1
    assert (
        "error: nothing to generate: no proposed mutation fired in the profile run" in proc.stderr
    )
    assert "  hint: --no-profile generates them unchecked" in proc.stderr


def test_output_writes_everything_into_one_file(ch10: Path, fbx) -> None:
    args = ("generate", "multi-scenario.star", "--output", "all.faults.star")
    proc = fbx.faultbox(*args, "--no-profile", cwd=ch10)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "wrote all.faults.star (14 mutations)\n"
    text = (ch10 / "all.faults.star").read_text()
    assert "    scenarios = [order_flow, health_check]," in text
    assert text.count("= fault_assumption(") == 6
    # Profiled: only order_flow's four fire; health_check's seven are listed as not generated.
    proc = fbx.faultbox(*args, cwd=ch10)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.endswith("wrote all.faults.star (4 mutations)\n")
    text = (ch10 / "all.faults.star").read_text()
    assert "    scenarios = [order_flow]," in text
    assert text.count("= fault_assumption(") == 3
    assert text.count("#   health_check × ") == 7


def test_a_profile_that_cannot_run_falls_back_to_unchecked(ch10: Path, fbx) -> None:
    text = (ch10 / "scenario-test.star").read_text().replace('BIN + "/mock-db"', '"/bin/false"')
    (ch10 / "nodb.star").write_text(text)
    proc = fbx.faultbox("generate", "nodb.star", cwd=ch10)
    assert proc.returncode == 0, proc.stderr
    reason = 'failed to start services: service "db" exited with code 1 before it was ready'
    assert f"warning: the profile run of order_flow could not run: {reason}" in proc.stderr
    assert "its mutations are generated unchecked (as with --no-profile)" in proc.stderr
    body = (ch10 / "order_flow.faults.star").read_text()
    assert f"#   order_flow: {reason}\n" in body
    assert body.count("(not profiled)\n") == 7
    assert body.count("= fault_assumption(") == 6


def test_output_in_the_specs_subdirectory(tmp_path: Path, demo_bins: Path, fbx) -> None:
    sub = tmp_path / "specs"
    sub.mkdir()
    fbx.workdir(sub, demo_bins, "ch10/scenario-test.star")
    proc = fbx.faultbox(
        "generate", "specs/scenario-test.star", "--output", "specs/gen.faults.star", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert 'load("scenario-test.star",' in (sub / "gen.faults.star").read_text()


def test_a_source_above_the_output_directory_is_refused(ch10: Path, fbx) -> None:
    (ch10 / "out").mkdir()
    proc = fbx.faultbox("generate", "../scenario-test.star", cwd=ch10 / "out")
    assert proc.returncode == 1
    assert 'would load("../scenario-test.star")' in proc.stderr
    assert "hint:" in proc.stderr
    assert list((ch10 / "out").iterdir()) == []


def test_filters(ch10: Path, fbx) -> None:
    proc = fbx.faultbox(
        "generate", "scenario-test.star", "--dry-run", "--no-profile", "--service", "db", cwd=ch10
    )
    assert proc.stderr.splitlines() == [
        "  order_flow × api: 1 mutations",  # the partition api<->db
        "  order_flow × db: 3 mutations",
        "  Total: 4 mutations",
    ]
    proc = fbx.faultbox(
        "generate", "multi-scenario.star", "--dry-run", "--no-profile", "--scenario",
        "health_check", "--category", "network", cwd=ch10,
    )  # fmt: skip
    assert proc.stderr.splitlines() == [
        "  health_check × api: 4 mutations",
        "  Total: 4 mutations",
    ]


def test_unknown_filter_values(ch10: Path, fbx) -> None:
    proc = fbx.faultbox("generate", "scenario-test.star", "--scenario", "nope", cwd=ch10)
    assert proc.returncode == 1
    assert "no scenario named 'nope'; scenarios: order_flow" in proc.stderr
    proc = fbx.faultbox("generate", "scenario-test.star", "--service", "cache", cwd=ch10)
    assert proc.returncode == 1
    assert "no service named 'cache'; services: db, api" in proc.stderr
    proc = fbx.faultbox("generate", "scenario-test.star", "--category", "cpu", cwd=ch10)
    assert proc.returncode == 1


def test_no_scenario(ch10: Path, fbx) -> None:
    text = (ch10 / "scenario-test.star").read_text().replace("scenario(order_flow)", "")
    (ch10 / "plain.star").write_text(text)
    proc = fbx.faultbox("generate", "plain.star", cwd=ch10)
    assert proc.returncode == 1
    assert "no scenario() functions found — nothing to generate" in proc.stderr
    assert "hint: register happy paths with scenario(fn)" in proc.stderr


def test_no_edges(ch10: Path, fbx) -> None:
    (ch10 / "single.star").write_text(
        'db = service("db", "bin/mock-db", interface("main", "tcp", 5432))\n'
        "def ping():\n    pass\nscenario(ping)\n"
    )
    proc = fbx.faultbox("generate", "single.star", cwd=ch10)
    assert proc.returncode == 1
    assert "nothing to generate: no edges between services" in proc.stderr


def test_spec_errors_exit_1_with_file_and_line(ch10: Path, fbx) -> None:
    (ch10 / "broken.star").write_text('x = 1\ny = service("db")\n')
    proc = fbx.faultbox("generate", "broken.star", cwd=ch10)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: broken.star:2: ")
    proc = fbx.faultbox("generate", "missing.star", cwd=ch10)
    assert proc.returncode == 1
    assert "missing.star: no such file" in proc.stderr


def test_help_lists_the_flags(ch10: Path, fbx) -> None:
    proc = fbx.faultbox("generate", "--help", cwd=ch10)
    assert proc.returncode == 0
    for flag in ("--dry-run", "--output", "--scenario", "--service", "--category", "--no-profile"):
        assert flag in proc.stdout
