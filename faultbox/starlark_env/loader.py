"""Load a spec: evaluate the main file and every file it ``load()``s, confined to its directory."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlark import EvalError, StarlarkSyntaxException
from starlark.eval.module import Module
from starlark.syntax import ast
from starlark.syntax.location import FileLocations, Position

from . import _interp
from ._builtin import predeclared
from .errors import SpecError, format_spec_error
from .name_check import check_names
from .nesting import check_nesting
from .registry import SpecRegistry, set_registry
from .spec_checks import analyze

# The interpreter's resolver and evaluator recurse once (or a few times) per level of nesting;
# nesting.py bounds the levels at 256, and this much Python stack covers them with room to spare
# (the interpreter's own parser raises the limit the same way while it parses).
_RECURSION_LIMIT = 20_000


class SpecLoadError(Exception):
    """The spec could not be loaded; ``str()`` is the one-line message for the user."""


@dataclass
class LoadedSpec:
    """An evaluated spec: its registry, main module and the syntax tree of every file."""

    path: Path  # absolute path of the main file
    display_path: str  # as the user typed it (used in replay commands)
    registry: SpecRegistry
    module: Module
    main_name: str  # the file name used in positions
    predeclared: dict[str, Any]
    syntax: dict[str, ast.StarlarkFile] = field(default_factory=dict)
    modules: dict[str, Module] = field(default_factory=dict)


def _display_name(path: Path) -> str:
    rel = os.path.relpath(path, Path.cwd())
    return path.as_posix() if rel.startswith("../..") else rel


def _import_builtin_modules() -> None:
    # Importing a builtin module registers its builtins.
    from . import (  # noqa: F401
        basics,
        composition,
        faults,
        lab_builtins,
        log_sources,
        queries,
        sources,
        topology,
    )


class _SpecLoader:
    """Executes files for ``load()``: relative to the spec directory, never outside it."""

    def __init__(self, spec: LoadedSpec) -> None:
        self.spec = spec
        self.base = spec.path.parent.resolve()
        self.cache: dict[Path, Module] = {}
        self.loading: list[Path] = [spec.path]  # the chain of files being evaluated

    def __call__(self, name: str) -> Module:
        if not name.endswith(".star"):
            raise SpecError(f"load({name!r}): only .star files can be loaded")
        if os.path.isabs(name):
            raise SpecError(f"load({name!r}): use a path relative to the spec's directory")
        if "\0" in name:
            raise SpecError(f"load({name!r}): a file name cannot contain a NUL byte")
        target = (self.base / name).resolve()
        if not target.is_relative_to(self.base):
            raise SpecError(f"load({name!r}): the file is outside the spec's directory {self.base}")
        if target in self.cache:
            return self.cache[target]
        if target in self.loading:
            chain = [*self.loading[self.loading.index(target) :], target]
            shown = " → ".join(os.path.relpath(p, self.base) for p in chain)
            raise SpecError(f"load({name!r}): circular load: {shown}")
        if not target.is_file():
            raise SpecError(f"load({name!r}): file not found in {self.base}")
        self.loading.append(target)
        try:
            module = self.exec_file(target)
        finally:
            self.loading.pop()
        self.cache[target] = module
        return module

    def exec_file(self, path: Path) -> Module:
        filename = _display_name(path)
        source = _read_source(path, filename)
        program = _interp.compile_file(source, filename)
        _interp.register_file(filename, source)
        check_nesting(program._file, _interp._FILE_LOCS[filename])
        self.spec.syntax[filename] = program._file
        module = program.exec(predeclared=self.spec.predeclared, loader=self)
        module.freeze()
        _interp.register_module(filename, module)
        self.spec.modules[filename] = module
        return module


def _read_source(path: Path, filename: str) -> str:
    """The text of a spec file; a file that is not UTF-8 is an error at its first bad line.

    A leading byte-order mark (some editors write one) is dropped, not a syntax error.
    """
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        good = raw[: exc.start].decode("utf-8")
        err = SpecError(f"not a UTF-8 text file ({exc.reason} at byte {exc.start})")
        err.push_frame("<spec>", FileLocations(filename, good).position(len(good)))
        raise err from None


def _check_test_names(spec: LoadedSpec) -> None:
    """Two tests with one name (a fault_scenario or matrix cell and a ``test_`` function, a
    scenario or another cell) are refused at the later declaration's line."""
    reg = spec.registry
    taken: dict[str, str] = {
        f"test_{name}": f"the scenario {name}" for name in reg.scenarios
    }  # fmt: skip
    for name, value in spec.module.globals.items():
        if name.startswith("test_") and _interp.is_callable(value):
            taken[name] = f"the function {name}"
    for fs in reg.fault_scenarios:
        name = f"test_{fs.name}"
        what = "a matrix cell" if fs.matrix else f"fault_scenario({fs.name!r})"
        if name not in taken:
            taken[name] = "another matrix cell" if fs.matrix else "a fault_scenario"
            continue
        err = SpecError(f"{what} makes a test named {name}, and so does {taken[name]}; rename one")
        file, _, line = fs.declared_at.rpartition(":")
        if file and line.isdigit():
            err.push_frame("<spec>", Position(file, int(line), 1))
        raise err


def load_spec(path: str | Path) -> LoadedSpec:
    """Evaluate the spec at ``path``. Raises :class:`SpecLoadError` with ``file:line: message``."""
    _import_builtin_modules()
    main = Path(path)
    if not main.exists():
        raise SpecLoadError(f"{path}: no such file")
    if not main.is_file():
        raise SpecLoadError(f"{path}: not a file")
    main = main.resolve()
    registry = SpecRegistry(main_file=main)
    set_registry(registry)
    spec = LoadedSpec(
        path=main,
        display_path=str(path),
        registry=registry,
        module=Module(""),
        main_name=_display_name(main),
        predeclared=predeclared(),
    )
    loader = _SpecLoader(spec)
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old_limit, _RECURSION_LIMIT))
    try:
        spec.module = loader.exec_file(main)
        check_names(spec)
        _check_test_names(spec)
        analyze(spec)
    except (EvalError, StarlarkSyntaxException) as exc:
        raise SpecLoadError(format_spec_error(exc)) from None
    except RecursionError:  # a path nesting.py does not measure: still no traceback
        raise SpecLoadError(f"{spec.main_name}: expression nested too deeply") from None
    finally:
        sys.setrecursionlimit(old_limit)
    return spec
