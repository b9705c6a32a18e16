"""Shared pieces of the protocol step methods: argument checks, responses, failure texts."""

from __future__ import annotations

import json
import select
import time
from typing import Any

from starlark import Dict, StarlarkList

from faultbox.starlark_env.errors import SpecError
from faultbox.starlark_env.values import InterfaceRef, Response

STEP_TIMEOUT_S = 10.0
EXIT_GRACE_S = 0.3  # a service that closed the connection may be about to exit
EXIT_NOTICE_S = 10.0  # the kernel says it is gone: faultbox's waiter thread will see it


def where(iface: InterfaceRef, method: str) -> str:
    return f"{iface.service.name}.{iface.name}.{method}()"


def arg_str(
    kwargs: dict[str, Any], name: str, place: str, *, required: bool = False, default: str = ""
) -> str:
    """A string argument (ints are accepted and converted, as Redis values often are ints)."""
    if name not in kwargs or kwargs[name] is None:
        if required:
            raise SpecError(f"{place}: {name}= is required")
        return default
    value = kwargs[name]
    if isinstance(value, bool):
        raise SpecError(f"{place}: {name}= must be a string, got bool")
    if isinstance(value, str | int | float):
        return str(value)
    raise SpecError(f"{place}: {name}= must be a string, got {type(value).__name__}")


def arg_int(kwargs: dict[str, Any], name: str, place: str, default: int) -> int:
    value = kwargs.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{place}: {name}= must be an int")
    return value


def plain(value: Any) -> Any:
    """A Starlark value as plain Python (dicts, lists, scalars) for JSON encoding."""
    if isinstance(value, Dict | dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, StarlarkList | list | tuple):
        return [plain(v) for v in value]
    return value


class Timer:
    def __init__(self) -> None:
        self.start = time.monotonic()

    @property
    def ms(self) -> int:
        return int((time.monotonic() - self.start) * 1000)


def ok(body: Any, timer: Timer) -> Response:
    """A successful answer; non-string bodies are JSON-encoded (``.data`` decodes them)."""
    text = body if isinstance(body, str) else json.dumps(body, default=str)
    return Response(status=200, body=text, ok=True, error="", duration_ms=timer.ms)


def server_error(message: str, timer: Timer) -> Response:
    return Response(status=500, body="", ok=False, error=message, duration_ms=timer.ms)


def no_answer(session: Any, iface: InterfaceRef, message: str, timer: Timer) -> Response:
    """A transport failure; says so when the service behind the interface has exited."""
    text = message.strip().splitlines()[0] if message.strip() else "no answer"
    proc = getattr(session, "processes", {}).get(iface.service.name)
    if proc is not None and _exit_noticed(proc):
        text += f' (service "{iface.service.name}" {proc.describe_exit()})'
    return Response(status=0, body="", ok=False, error=text, duration_ms=timer.ms)


def _exit_noticed(proc: Any) -> bool:
    """Whether ``proc`` (a ServiceProcess) has exited, waiting a moment for the exit to be seen.

    The exit is recorded by a waiter thread a moment after the client saw the EOF. A live
    service gets only :data:`EXIT_GRACE_S`; one whose pidfd already says it is gone gets up to
    :data:`EXIT_NOTICE_S`: on a loaded machine the waiter thread may not have run yet.
    """
    for limit in (EXIT_GRACE_S, EXIT_NOTICE_S):
        deadline = time.monotonic() + limit
        while not proc.exited and time.monotonic() < deadline:
            time.sleep(0.02)  # polling a condition
        if proc.exited or not _gone(proc):
            break
    return bool(proc.exited)


def _gone(proc: Any) -> bool:
    """The kernel's view: the process has exited (its pidfd is readable)."""
    pidfd = getattr(getattr(proc, "proc", None), "pidfd", None)
    if not isinstance(pidfd, int):
        return False
    try:
        return bool(select.select([pidfd], [], [], 0)[0])
    except (OSError, ValueError):
        return False
