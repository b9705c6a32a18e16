"""faultbox/report reads trace results and is called by the runner and the CLI: it imports
neither (data flows cli → runtime → report/trace), and trace does not import report."""

from __future__ import annotations

from tests.core import test_layers as layers

FORBIDDEN = {
    "report": {"runtime", "cli", "generate", "starlark_env", "observe", "intercept", "common"},
    "trace": {"report"},
}


def test_report_imports_only_trace() -> None:
    wrong = []
    for package, forbidden in FORBIDDEN.items():
        for path in sorted((layers.PACKAGE / package).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            for line, name in layers.faultbox_imports(source, layers.module_package(path)):
                parts = name.split(".")
                if len(parts) > 1 and parts[1] in forbidden:
                    wrong.append(f"{path.relative_to(layers.PACKAGE.parent)}:{line}: {name}")
    assert wrong == []
    # the check does look at report's modules and their relative imports
    terminal = (layers.PACKAGE / "report" / "terminal.py").read_text(encoding="utf-8")
    names = [n for _, n in layers.faultbox_imports(terminal, "faultbox.report")]
    assert "faultbox.report.trace_details" in names and "faultbox.trace.results" in names
