"""Load a spec: evaluate the main file and every file it ``load()``s, confined to its directory."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import starlark
from starlark import EvalError, StarlarkSyntaxException
from starlark.eval.module import Module
from starlark.syntax import ast

from . import _interp
from ._builtin import predeclared
from .errors import SpecError, format_spec_error
from .registry import SpecRegistry, set_registry


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
    from . import basics, composition, faults, observe, queries, sources, topology  # noqa: F401


class _SpecLoader:
    """Executes files for ``load()``: relative to the spec directory, never outside it."""

    def __init__(self, spec: LoadedSpec) -> None:
        self.spec = spec
        self.base = spec.path.parent.resolve()
        self.cache: dict[Path, Module] = {}
        self.loading: list[Path] = []

    def __call__(self, name: str) -> Module:
        if not name.endswith(".star"):
            raise SpecError(f"load({name!r}): only .star files can be loaded")
        if os.path.isabs(name):
            raise SpecError(f"load({name!r}): use a path relative to the spec's directory")
        target = (self.base / name).resolve()
        if not target.is_relative_to(self.base):
            raise SpecError(f"load({name!r}): the file is outside the spec's directory {self.base}")
        if target in self.cache:
            return self.cache[target]
        if target in self.loading:
            raise SpecError(f"load({name!r}): circular load")
        if not target.is_file():
            raise SpecError(f"load({name!r}): file not found in {self.base}")
        if target == self.spec.path:
            return self.spec.module
        self.loading.append(target)
        try:
            module = self.exec_file(target)
        finally:
            self.loading.pop()
        self.cache[target] = module
        return module

    def exec_file(self, path: Path) -> Module:
        filename = _display_name(path)
        source = path.read_text(encoding="utf-8")
        program = starlark.compile(source, filename=filename, mode="file")
        self.spec.syntax[filename] = program._file
        _interp.register_file(filename, source)
        module = program.exec(predeclared=self.spec.predeclared, loader=self)
        module.freeze()
        _interp.register_module(filename, module)
        self.spec.modules[filename] = module
        return module


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
    try:
        spec.module = loader.exec_file(main)
        from .analysis import analyze

        analyze(spec)
    except (EvalError, StarlarkSyntaxException) as exc:
        raise SpecLoadError(format_spec_error(exc)) from None
    except UnicodeDecodeError as exc:
        raise SpecLoadError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    return spec
