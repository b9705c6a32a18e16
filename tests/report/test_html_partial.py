"""The HTML report shows writes cut by partial() as their own decision (colour, filter)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, run_faultbox
from tests.crash.test_partial_writes_spec import PORT, SPEC
from tests.report.chromium import Chromium


@pytest.fixture
def browser() -> Iterator[Chromium]:
    chromium = Chromium()
    try:
        yield chromium
    finally:
        chromium.close()


def test_partial_writes_have_their_own_decision_filter(tmp_path: Path, browser: Chromium) -> None:
    binary = REPO / "bin" / "inventory-svc"
    if not binary.exists():
        pytest.skip("bin/inventory-svc is not built (make build)")
    spec = tmp_path / "partial.star"
    spec.write_text(SPEC.format(binary=binary, port=PORT, wal=tmp_path / "inventory.wal"))
    html, out = tmp_path / "report.html", tmp_path / "out.json"
    proc = run_faultbox("test", str(spec), "--test", "test_short_wal_write",
                        "--html", str(html), "--output", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    events = json.loads(out.read_text())["tests"][0]["events"]
    cut = [e for e in events if e.get("fields", {}).get("decision", "").startswith("partial")]
    assert len(cut) == 1
    browser.open(html)
    assert browser.wait_for("window.faultboxReport && window.faultboxReport.ready")
    browser.eval("window.faultboxReport.open(0)")
    assert browser.eval("window.faultboxReport.state().visible") == len(events)
    browser.eval("document.querySelector('#filter-decision input[value=partial]').click()")
    assert browser.eval("window.faultboxReport.state().visible") == len(events) - 1
