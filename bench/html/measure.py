"""How large the HTML report of a 100,000-event run is and how fast it opens (issue 13).

The result file is synthesised from a real one: the events of the run's largest test are
repeated (seq, timestamps and vector clocks shifted, fault windows and steps kept) until one
test holds N events; the other tests stay as they were. The report is then loaded in headless
Chromium (tests/report/chromium.py) and timed:

* ready: from navigation start until the overview is built (``faultboxReport.readyMs``);
* open test: the 100k-event test's view built and its timeline drawn (JavaScript clock);
* click: a canvas click on an event until its fields are shown;
* zoom: one wheel step (timeline redrawn);
* filter: the "allow" decision switched off (list and timeline rebuilt).

Usage (repository root; a result file from ``faultbox test … --output``)::

    flock /tmp/faultbox-test.lock .venv/bin/faultbox test examples/ch12/named-ops.star --output /tmp/ch12.json
    PYTHONPATH=. .venv/bin/python bench/html/measure.py /tmp/ch12.json [--events 100000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from faultbox.report.html import (
    _parse_ns,  # the page's own timestamp parser
    render_html,
)
from faultbox.trace.export_json import format_timestamp
from tests.report.chromium import Chromium


def synthesise(doc: dict[str, Any], n_events: int) -> dict[str, Any]:
    """A copy of ``doc`` whose largest test has ``n_events`` events (its own, repeated)."""
    out = copy.deepcopy(doc)
    big = max(out["tests"], key=lambda t: len(t["events"]))
    base = big["events"]
    stamps = [_parse_ns(e["timestamp"]) for e in base]
    span = max(stamps) - min(stamps) + 1_000_000  # one repetition, plus 1 ms
    peak: dict[str, int] = {}
    for e in base:
        for host, n in e.get("vector_clock", {}).items():
            peak[host] = max(peak.get(host, 0), n)
    events = []
    rep = 0
    while len(events) < n_events:
        for e, ns in zip(base, stamps, strict=True):
            if len(events) >= n_events:
                break
            ev = copy.deepcopy(e)
            ev["seq"] = len(events) + 1
            ev["timestamp"] = format_timestamp(ns + rep * span)
            if "vector_clock" in ev:  # each repetition continues every host's clock
                ev["vector_clock"] = {h: n + rep * peak[h] for h, n in ev["vector_clock"].items()}
            events.append(ev)
        rep += 1
    big["events"] = events
    return out


def measure_once(browser: Chromium, page: Path, big_index: int, n: int) -> dict[str, float]:
    start = time.monotonic()
    browser.open(page)
    browser.wait_for("window.faultboxReport && window.faultboxReport.ready")
    wall_ready = (time.monotonic() - start) * 1000
    out = {"ready_ms": browser.eval("window.faultboxReport.readyMs"), "wall_ready_ms": wall_ready}
    out["open_ms"] = browser.eval(
        f"(() => {{ const t = performance.now(); window.faultboxReport.open({big_index}); "
        "return performance.now() - t; })()"
    )
    assert browser.eval("window.faultboxReport.state().visible") == n
    pick = n // 2
    point = browser.eval(f"window.faultboxReport.eventPoint({pick})")
    t = time.monotonic()
    browser.click(point["x"], point["y"])
    browser.wait_for("window.faultboxReport.state().selected >= 0")
    out["click_ms"] = (time.monotonic() - t) * 1000
    out["zoom_ms"] = browser.eval(
        "(() => { const c = document.getElementById('timeline'), r = c.getBoundingClientRect();"
        " const t = performance.now(); c.dispatchEvent(new WheelEvent('wheel', {deltaY: -200,"
        " clientX: r.left + r.width / 2, clientY: r.top + 40, bubbles: true, cancelable: true}));"
        " return performance.now() - t; })()"
    )
    out["filter_ms"] = browser.eval(
        "(() => { const t = performance.now();"
        " document.querySelector('#filter-decision input[value=allow]').click();"
        " return performance.now() - t; })()"
    )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("results", type=Path, help="a result file (faultbox test --output)")
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--keep", type=Path, help="also write the report here")
    args = ap.parse_args()
    doc = synthesise(json.loads(args.results.read_text(encoding="utf-8")), args.events)
    big_index = max(range(len(doc["tests"])), key=lambda i: len(doc["tests"][i]["events"]))
    json_bytes = len(json.dumps(doc, indent=2).encode())
    t = time.monotonic()
    html = render_html(doc, [str(args.results)])
    build_ms = (time.monotonic() - t) * 1000
    with tempfile.TemporaryDirectory(prefix="faultbox-bench-html-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html, encoding="utf-8")
        if args.keep:
            args.keep.write_text(html, encoding="utf-8")
        rounds = []
        with Chromium(width=1400, height=1000) as browser:
            for _ in range(args.rounds):
                rounds.append(measure_once(browser, page, big_index, args.events))
    print(f"events in the large test: {args.events}; tests: {len(doc['tests'])}")
    print(f"result JSON (--output, indented): {json_bytes / 1e6:.1f} MB")
    print(f"report HTML: {len(html.encode()) / 1e6:.1f} MB; written in {build_ms:.0f} ms")
    print(f"{args.rounds} rounds, median (min–max):")
    for key in rounds[0]:
        vals = [r[key] for r in rounds]
        print(f"  {key:14s} {statistics.median(vals):8.0f} ms  ({min(vals):.0f}–{max(vals):.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
