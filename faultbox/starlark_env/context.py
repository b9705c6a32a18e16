"""Which test session is running now (builtins such as fault() and assert_* need it).

The runtime sets the slot around each test (``set_active_session``); builtins read it. The
session is duck-typed here: starlark_env never imports the runtime. Tests run one at a time,
so a process-wide slot is enough.
"""

from __future__ import annotations

from typing import Any

from .errors import SpecError

_ACTIVE: list[Any] = []


def active_session() -> Any | None:
    """The running test's session, or None outside a test (at load time)."""
    return _ACTIVE[-1] if _ACTIVE else None


def require_session(builtin_name: str) -> Any:
    """The running test's session, or a SpecError naming the builtin that needs one."""
    session = active_session()
    if session is None:
        raise SpecError(f"{builtin_name}() can only be used while a test runs")
    return session


def set_active_session(session: Any | None) -> None:
    """Make ``session`` the running test's (None: no test is running)."""
    _ACTIVE.clear()
    if session is not None:
        _ACTIVE.append(session)
