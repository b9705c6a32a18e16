"""Which test session is running now (builtins such as fault() and assert_* need it).

Tests run one at a time, so a process-wide slot is enough; parallel() callables of one test
share its session.
"""

from __future__ import annotations

from typing import Any

_ACTIVE: list[Any] = []


def active_session() -> Any | None:
    return _ACTIVE[-1] if _ACTIVE else None


def set_active_session(session: Any | None) -> None:
    _ACTIVE.clear()
    if session is not None:
        _ACTIVE.append(session)
