"""faultbox.intercept: syscall interception with seccomp user-notify.

See docs/design.md ("Contract: interception") and docs/interception.md.

The names below are loaded on first use (PEP 562 ``__getattr__``): ``faultbox --help``,
``faultbox diff`` and trace queries (which use :mod:`faultbox.intercept.globs`) must not pay
for the supervisor, the launcher and the ctypes layer they never use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faultbox.intercept.decide import RuleHandle
    from faultbox.intercept.durations import format_go_duration, parse_duration
    from faultbox.intercept.errnos import errno_from_name, errno_name, strerror_text
    from faultbox.intercept.errors import InterceptError, InterceptUnavailable, LaunchError
    from faultbox.intercept.records import SyscallRecord
    from faultbox.intercept.rules import Rule
    from faultbox.intercept.spawn import LaunchedProcess, launch
    from faultbox.intercept.supervisor import Supervisor
    from faultbox.intercept.syscalls import FAMILIES, expand_syscalls, is_known_syscall
    from faultbox.intercept.syspaths import SYSTEM_PREFIXES, is_system_path

# public name -> the submodule that defines it
_WHERE = {
    "RuleHandle": "decide",
    "format_go_duration": "durations",
    "parse_duration": "durations",
    "errno_from_name": "errnos",
    "errno_name": "errnos",
    "strerror_text": "errnos",
    "InterceptError": "errors",
    "InterceptUnavailable": "errors",
    "LaunchError": "errors",
    "LaunchedProcess": "spawn",
    "launch": "spawn",
    "SYSTEM_PREFIXES": "syspaths",
    "is_system_path": "syspaths",
    "SyscallRecord": "records",
    "Rule": "rules",
    "Supervisor": "supervisor",
    "FAMILIES": "syscalls",
    "expand_syscalls": "syscalls",
    "is_known_syscall": "syscalls",
}

__all__ = [
    "FAMILIES",
    "InterceptError",
    "InterceptUnavailable",
    "LaunchError",
    "LaunchedProcess",
    "Rule",
    "RuleHandle",
    "SYSTEM_PREFIXES",
    "Supervisor",
    "SyscallRecord",
    "errno_from_name",
    "errno_name",
    "expand_syscalls",
    "format_go_duration",
    "is_known_syscall",
    "is_system_path",
    "launch",
    "parse_duration",
    "strerror_text",
]


def __getattr__(name: str) -> Any:
    """Import the submodule defining ``name`` on first access, then cache the name here."""
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{where}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
