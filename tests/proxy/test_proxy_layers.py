"""faultbox/proxy stands alone: it imports nothing from faultbox.runtime or starlark_env."""

from __future__ import annotations

import ast
from pathlib import Path

PROXY = Path(__file__).resolve().parents[2] / "faultbox" / "proxy"


def test_proxy_imports_no_runtime() -> None:
    offenders = []
    for path in sorted(PROXY.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names
                          if n.startswith(("faultbox.runtime", "faultbox.starlark_env"))]  # fmt: skip
    assert not offenders
    assert len(list(PROXY.glob("*.py"))) >= 8
