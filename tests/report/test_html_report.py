"""The HTML report (issue 13) of real runs, loaded in headless Chromium: the chapter-12 spec's
failing matrix cell with its replay command, a cell that passed while its fault never fired,
timelines (a click on the canvas shows the event's fields), filters, and merged shards.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.html.measure import synthesise
from faultbox.report.html import write_html
from faultbox.report.merge import MergeError, merge_files
from tests.report.chromium import Chromium

# An attribute or CSS url that would make the browser fetch something.
EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import""", re.I)  # fmt: skip
FAILING = "test_matrix_check_inventory_wal_broken"


@pytest.fixture
def browser() -> Iterator[Chromium]:
    """One headless Chromium; killed (its whole process group) whatever the test did."""
    chromium = Chromium()
    try:
        yield chromium
    finally:
        chromium.close()
    with pytest.raises(ProcessLookupError):
        os.killpg(chromium.proc.pid, 0)  # nothing of it is left


@pytest.fixture(scope="module")
def ch12(tmp_path_factory: pytest.TempPathFactory, demo_bins: Path, fbx: Any) -> Path:
    """examples/ch12/named-ops.star run once with --html and --output (one cell fails)."""
    work = fbx.workdir(tmp_path_factory.mktemp("ch12"), demo_bins, "ch12/named-ops.star")
    proc = fbx.faultbox("test", "named-ops.star", "--html", "report.html", "--output", "out.json", cwd=work)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "check_inventory × wal_broken: expected failure under fault" in proc.stderr
    return work


def _open(browser: Chromium, path: Path) -> None:
    browser.open(path)
    assert browser.wait_for("window.faultboxReport && window.faultboxReport.ready")


def test_the_report_is_one_file_with_no_external_reference(ch12: Path) -> None:
    text = (ch12 / "report.html").read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert not EXTERNAL.findall(text)
    assert "<link" not in text and "<script src" not in text
    # The data is one blob that no string inside it can end early.
    blob = re.search(r'<script type="application/json" id="fb-data">(.*?)</script>', text, re.S)
    assert blob is not None
    data = json.loads(blob.group(1))
    doc = json.loads((ch12 / "out.json").read_text())
    assert [t["name"] for t in data["tests"]] == [t["name"] for t in doc["tests"]]
    assert sum(len(t["ev"]) for t in data["tests"]) == sum(len(t["events"]) for t in doc["tests"])


def test_chromium_shows_the_failing_cell_its_replay_command_and_event_fields(
    ch12: Path, browser: Chromium, tmp_path: Path
) -> None:
    """Acceptance: the chapter-12 report in headless Chromium, checked through the DOM."""
    doc = json.loads((ch12 / "out.json").read_text())
    _open(browser, ch12 / "report.html")
    names = browser.eval("[...document.querySelectorAll('#tests-table a')].map(a => a.textContent)")
    assert names == [t["name"] for t in doc["tests"]]
    cells = browser.eval(
        "[...document.querySelectorAll('#matrix-grid td')].map(td => [td.dataset.scenario, "
        "td.dataset.fault, td.className, td.textContent])"
    )
    by_pair = {(s, f): (cls, text) for s, f, cls, text in cells}
    assert by_pair[("check_inventory", "wal_broken")] == ("cell-fail", "FAIL")
    assert by_pair[("place_order", "persist_broken")][0] == "cell-pass"
    assert len(by_pair) == 4
    failing = next(t for t in doc["tests"] if t["name"] == FAILING)
    replay = "faultbox test named-ops.star --test matrix_check_inventory_wal_broken --seed 0"
    assert failing["replay_command"] == replay
    failures = browser.eval("document.getElementById('failures').innerText")
    assert FAILING in failures and replay in failures
    assert "expected failure under fault" in failures
    assert "named-ops.star:65" in failures  # the at: location of the failing expect
    browser.screenshot(tmp_path / "overview.png", full_page=True)

    # A real click on the failing cell opens its test: the timeline and the event list.
    box = browser.eval(
        "(() => { const a = document.querySelector('td.cell-fail a'); a.scrollIntoView(); "
        "const r = a.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
    )
    browser.click(*box)
    state = browser.wait_for("window.faultboxReport.state()")
    assert state["test"] == FAILING and state["visible"] == len(failing["events"])
    head = browser.eval("document.getElementById('test-head').innerText")
    assert replay in head and "wal_write=deny(EIO)" in head
    lanes = browser.eval("[...document.querySelectorAll('#filter-service label')].map(l => l.innerText.split(' ')[0])")  # fmt: skip
    assert lanes == ["test", "inventory", "orders"]

    # Click the step's answer on the canvas: the detail panel shows its fields.
    recv = next(i for i, e in enumerate(failing["events"]) if e["type"] == "step_recv")
    point = browser.eval(f"window.faultboxReport.eventPoint({recv})")
    browser.eval(f"window.scrollTo(0, {point['y']} - 200 + window.scrollY)")
    point = browser.eval(f"window.faultboxReport.eventPoint({recv})")
    browser.click(point["x"], point["y"])
    detail = browser.wait_for(
        "document.getElementById('detail-fields') && document.getElementById('detail').innerText"
    )
    fields = failing["events"][recv]["fields"]
    assert f"Event #{failing['events'][recv]['seq']}" in detail
    for key, value in fields.items():
        assert f"{key}\n{value}" in detail
    assert "vector_clock" in detail and "← step from" in detail
    shot = browser.screenshot(tmp_path / "failing-test.png", full_page=True)
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_filters_hide_events_from_the_timeline_and_the_list(ch12: Path, browser: Chromium) -> None:
    doc = json.loads((ch12 / "out.json").read_text())
    _open(browser, ch12 / "report.html")
    idx = next(i for i, t in enumerate(doc["tests"]) if t["name"] == FAILING)
    browser.eval(f"window.faultboxReport.open({idx})")
    events = doc["tests"][idx]["events"]
    allowed = sum(1 for e in events if e.get("fields", {}).get("decision", "").startswith("allow"))
    stdout = sum(1 for e in events if e["type"] == "stdout")
    assert allowed and stdout
    browser.eval("document.querySelector('#filter-decision input[value=allow]').click()")
    assert browser.eval("window.faultboxReport.state().visible") == len(events) - allowed
    browser.eval("document.querySelector('#filter-type input[value=stdout]').click()")
    assert browser.eval("window.faultboxReport.state().visible") == len(events) - allowed - stdout
    rows = browser.eval("document.querySelectorAll('#list-rows .row').length")
    assert rows == len(events) - allowed - stdout


def test_a_cell_that_passed_without_its_fault_firing_is_marked(
    tmp_path: Path, demo_bins: Path, fbx: Any, browser: Chromium
) -> None:
    """mock-db never calls fsync: the fsync_failure cell is PASS*, with a warning."""
    work = fbx.workdir(tmp_path, demo_bins, "ch10/scenario-test.star")
    (work / "matrix.star").write_text(
        'load("scenario-test.star", "api", "db", "order_flow")\n'
        'disk_io_error = fault_assumption("disk_io_error", target = db, write = deny("EIO"))\n'
        'fsync_failure = fault_assumption("fsync_failure", target = db, fsync = deny("EIO"))\n'
        "fault_matrix(scenarios = [order_flow], faults = [disk_io_error, fsync_failure])\n"
    )
    proc = fbx.faultbox("test", "matrix.star", "--html", "report.html", cwd=work)
    assert proc.returncode == 0, proc.stderr
    _open(browser, work / "report.html")
    cell = browser.eval(
        "(() => { const td = document.querySelector('td[data-fault=fsync_failure]'); "
        "return [td.className, td.textContent]; })()"
    )
    assert cell[0] == "cell-passstar" and re.fullmatch(r"PASS\* \(\d+ms\)", cell[1])
    other = browser.eval("document.querySelector('td[data-fault=disk_io_error]').className")
    assert other == "cell-pass"
    warnings = browser.eval("document.getElementById('warnings').innerText")
    assert "test_matrix_order_flow_fsync_failure" in warnings
    assert "fault fsync=deny(EIO) on db never fired" in warnings
    assert "1 passed without its fault firing" in browser.eval(
        "document.getElementById('matrix').innerText"
    )


def test_report_merges_the_shards_of_one_run(
    tmp_path: Path, demo_bins: Path, fbx: Any, ch12: Path, browser: Chromium
) -> None:
    work = fbx.workdir(tmp_path, demo_bins, "ch12/named-ops.star")
    for shard, pattern in (("a", "matrix_*"), ("b", "*_failure")):
        proc = fbx.faultbox("test", "named-ops.star", "--test", pattern, "--output", f"{shard}.json", cwd=work)  # fmt: skip
        assert proc.returncode in (0, 2), proc.stderr
    a, b = (json.loads((work / f"{s}.json").read_text()) for s in "ab")
    proc = fbx.faultbox("report", "a.json", "b.json", "-o", "merged.html", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert "wrote merged.html: 6 tests from 2 result files" in proc.stderr
    _open(browser, work / "merged.html")
    names = browser.eval("[...document.querySelectorAll('#tests-table a')].map(a => a.textContent)")
    assert names == sorted(t["name"] for t in a["tests"] + b["tests"])  # one run's order
    assert browser.eval("document.querySelectorAll('#matrix-grid td.cell-fail').length") == 1
    totals = browser.eval("document.getElementById('totals').innerText")
    assert "6 tests" in totals and "5 passed" in totals and "1 failed" in totals
    assert "merged from 2 result files" in browser.eval("document.getElementById('foot').innerText")

    # Refused: a shard of another spec, a shard of another faultbox version, a test twice.
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**b, "star_file": "other.star"}))
    proc = fbx.faultbox("report", "a.json", str(other), "-o", "x.html", cwd=work)
    assert proc.returncode == 1
    assert (
        "cannot merge results of different specs" in proc.stderr and "'other.star'" in proc.stderr
    )
    other.write_text(json.dumps({**b, "faultbox_version": "0.0.1"}))
    proc = fbx.faultbox("report", "a.json", str(other), "-o", "x.html", cwd=work)
    assert proc.returncode == 1 and "different faultbox versions" in proc.stderr
    proc = fbx.faultbox("report", "a.json", "a.json", "-o", "x.html", cwd=work)
    assert proc.returncode == 1 and "shards must run different tests" in proc.stderr
    (work / "bad.json").write_text("{ not json")
    proc = fbx.faultbox("report", "bad.json", "-o", "x.html", cwd=work)
    assert proc.returncode == 1 and "bad.json:1: not JSON" in proc.stderr
    assert "Traceback" not in proc.stderr and not (work / "x.html").exists()


def test_text_from_the_run_cannot_break_out_of_the_page(
    ch12: Path, tmp_path: Path, fbx: Any, browser: Chromium
) -> None:
    """A reason containing markup is shown as text; the page still works."""
    doc = json.loads((ch12 / "out.json").read_text())
    evil = "</script><script>document.title='owned'</script><b>bold</b>"
    failing = next(t for t in doc["tests"] if t["result"] == "fail")
    failing["reason"] = evil
    (tmp_path / "evil.json").write_text(json.dumps(doc))
    proc = fbx.faultbox("report", "evil.json", "-o", "evil.html", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    _open(browser, tmp_path / "evil.html")
    assert browser.eval("document.title") != "owned"
    assert evil in browser.eval("document.getElementById('failures').innerText")
    assert browser.eval("document.querySelectorAll('#failures b').length") == 0


def test_merging_shards_gives_back_the_whole_run(ch12: Path, tmp_path: Path) -> None:
    """The run's result file cut in two (tests and matrix cells) merges back to its content."""
    doc = json.loads((ch12 / "out.json").read_text())
    tests = doc["tests"]
    halves = [tests[::2], tests[1::2]]
    paths = []
    for k, part in enumerate(halves):
        names = {t["name"] for t in part}
        shard = {**doc, "tests": part, "pass": sum(t["result"] == "pass" for t in part)}
        shard["fail"] = len(part) - shard["pass"]
        cells = [c for c in doc["matrix"]["cells"]
                 if f"test_matrix_{c['scenario']}_{c['fault']}" in names]  # fmt: skip
        shard["matrix"] = {**doc["matrix"], "cells": cells, "total": len(cells)}
        paths.append(tmp_path / f"shard{k}.json")
        paths[-1].write_text(json.dumps(shard))
    merged = merge_files(paths[::-1])  # in any order: the run's order comes back
    assert [t["name"] for t in merged["tests"]] == [t["name"] for t in tests]
    assert (merged["pass"], merged["fail"]) == (doc["pass"], doc["fail"])
    m, original = merged["matrix"], doc["matrix"]
    assert (m["scenarios"], m["faults"]) == (original["scenarios"], original["faults"])
    for key in ("total", "passed", "failed", "passed_without_fault"):
        assert m[key] == original[key], key
    assert m["cells"] == original["cells"]
    assert merged["faultbox_version"] == doc["faultbox_version"]
    with pytest.raises(MergeError, match="result format version 1"):
        (tmp_path / "v1.json").write_text(json.dumps({**doc, "version": 1}))
        merge_files([tmp_path / "v1.json"])


def test_a_report_of_100k_events_opens_and_answers_a_click(
    ch12: Path, tmp_path: Path, browser: Chromium
) -> None:
    """The chapter-12 run grown to 100,000 events in one test (bench/html/measure.py)."""
    doc = synthesise(json.loads((ch12 / "out.json").read_text()), 100_000)
    big = max(range(len(doc["tests"])), key=lambda i: len(doc["tests"][i]["events"]))
    page = tmp_path / "big.html"
    write_html(doc, page)
    assert page.stat().st_size < 15_000_000  # compact: the indented JSON is ~57 MB
    started = time.monotonic()
    _open(browser, page)
    browser.eval(f"window.faultboxReport.open({big})")
    assert browser.eval("window.faultboxReport.state().visible") == 100_000
    point = browser.eval("window.faultboxReport.eventPoint(50000)")
    browser.click(point["x"], point["y"])
    browser.wait_for("window.faultboxReport.state().selected >= 0")
    assert browser.eval("document.querySelectorAll('#list-rows .row').length") < 100  # virtualised
    # Generous for a loaded 2-core machine; measured figures are in docs/performance.md.
    assert time.monotonic() - started < 30


def test_an_unwritable_html_path_is_refused_before_anything_runs(
    tmp_path: Path, demo_bins: Path, fbx: Any
) -> None:
    work = fbx.workdir(tmp_path, demo_bins, "ch12/named-ops.star")
    proc = fbx.faultbox("test", "named-ops.star", "--html", "no/such/dir/r.html", cwd=work)
    assert proc.returncode == 1
    assert "cannot write no/such/dir/r.html: directory" in proc.stderr
    assert "PASS" not in proc.stderr  # no test ran
    proc = fbx.faultbox("report", "missing.json", "-o", "no/such/dir/r.html", cwd=work)
    assert proc.returncode == 1 and "cannot write no/such/dir/r.html" in proc.stderr
