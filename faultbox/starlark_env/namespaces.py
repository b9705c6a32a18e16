"""Namespaced builtins (``observe.stdout(...)``), collected from the builtin modules."""

from __future__ import annotations

from typing import Any

_NAMESPACES: dict[str, dict[str, Any]] = {}


def register_namespace(name: str, members: dict[str, Any]) -> None:
    _NAMESPACES.setdefault(name, {}).update(members)


def namespaces() -> dict[str, Any]:
    from starlark import namespace

    from ._builtin import make_builtin

    return {
        ns: namespace(ns, {k: make_builtin(f"{ns}.{k}", fn) for k, fn in members.items()})
        for ns, members in _NAMESPACES.items()
    }
