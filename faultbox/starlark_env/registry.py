"""What a spec declared: services, scenarios, assumptions, fault scenarios, matrices.

One :class:`SpecRegistry` is filled while the spec (and every file it loads) is evaluated.
Builtins reach it through :func:`current_registry`; the runtime reads it afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SpecError
from .plans import ScenarioDef
from .values import Service

__all__ = ["ScenarioDef", "SpecRegistry", "current_registry", "set_registry"]


@dataclass
class SpecRegistry:
    main_file: Path
    services: dict[str, Service] = field(default_factory=dict)
    scenarios: dict[str, ScenarioDef] = field(default_factory=dict)
    assumptions: list[Any] = field(default_factory=list)
    fault_scenarios: list[Any] = field(default_factory=list)
    matrices: list[Any] = field(default_factory=list)
    monitors: list[Any] = field(default_factory=list)  # spec-wide monitors
    # Filled by analysis.analyze(): the syscalls each service's seccomp filter must notify.
    notify_sets: dict[str, set[str]] = field(default_factory=dict)
    # (service, interface) pairs a protocol rule can target: proxied (protocol_targets.py).
    proxied: set[tuple[str, str]] = field(default_factory=set)
    # Services a crash(..., lose_unsynced=True) can target (notify_sets.py): journaled.
    journaled: set[str] = field(default_factory=set)

    @property
    def base_dir(self) -> Path:
        return self.main_file.parent

    def add_service(self, svc: Service) -> None:
        if svc.name in self.services:
            raise SpecError(f"service {svc.name!r} is declared twice")
        self.services[svc.name] = svc

    def start_order(self) -> list[Service]:
        """Services in ``depends_on`` order (dependencies first, declaration order otherwise)."""
        order: list[Service] = []
        state: dict[str, int] = {}  # 1 = visiting, 2 = done

        def visit(svc: Service, path: list[str]) -> None:
            st = state.get(svc.name)
            if st == 2:
                return
            if st == 1:
                cycle = " -> ".join([*path[path.index(svc.name) :], svc.name])
                raise SpecError(f"dependency cycle: {cycle}")
            state[svc.name] = 1
            for dep in svc.depends_on:
                visit(dep, [*path, svc.name])
            state[svc.name] = 2
            order.append(svc)

        for svc in self.services.values():
            visit(svc, [])
        return order


_CURRENT: list[SpecRegistry] = []


def current_registry() -> SpecRegistry:
    if not _CURRENT:
        raise SpecError("no spec is being loaded")
    return _CURRENT[-1]


def set_registry(reg: SpecRegistry | None) -> None:
    _CURRENT.clear()
    if reg is not None:
        _CURRENT.append(reg)
