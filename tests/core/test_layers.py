"""The seam between the packages runs one way: cli → runtime → (starlark_env, observe,
intercept, trace). Checked on the source of every module, function-local imports included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "faultbox"

# package → faultbox packages it must never import
FORBIDDEN = {
    "starlark_env": {"runtime", "observe", "cli", "report", "generate"},
    "observe": {"runtime", "starlark_env", "cli", "report", "generate"},
    "trace": {"runtime", "cli", "generate"},
    "intercept": {"runtime", "starlark_env", "observe", "cli", "generate"},
    "common": {"runtime", "starlark_env", "observe", "trace", "intercept", "cli", "generate"},
}


def module_package(path: Path) -> str:
    """The dotted package a module file belongs to (relative imports start there)."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return module if path.name == "__init__.py" else module.rsplit(".", 1)[0]


def faultbox_imports(source: str, package: str) -> list[tuple[int, str]]:
    """(line, imported faultbox module) for every import statement of ``source``."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            out.append((node.lineno, name))
    return [(line, name) for line, name in out if name.split(".")[0] == "faultbox"]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_runs_backwards(package: str) -> None:
    wrong = []
    for path in sorted((PACKAGE / package).rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        for line, name in faultbox_imports(source, module_package(path)):
            parts = name.split(".")
            if len(parts) > 1 and parts[1] in FORBIDDEN[package]:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {name}")
    assert wrong == []


def test_the_check_sees_relative_and_local_imports() -> None:
    source = "import os\ndef f():\n    from ..runtime import session\n    from . import logs\n"
    package = module_package(PACKAGE / "observe" / "poll.py")
    names = [name for _, name in faultbox_imports(source, package)]
    assert names == ["faultbox.runtime", "faultbox.observe"]
