"""Step methods as specs see them: which methods each protocol offers, and their keywords.

:data:`STEP_METHODS` is the declaration: ``svc.iface.<method>`` attributes and the load-time
keyword checks (``spec_checks``) read it before any runtime code is imported. The runtime
registers a handler for every declared method (``runtime/steps.py``, ``runtime/protocols/``)
and its session runs the step (``session.run_step``), recording ``step_send``/``step_recv``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .context import active_session
from .errors import SpecError

#: A handler: ``(session, interface, keyword arguments) -> result``.
StepHandler = Callable[[Any, Any, dict[str, Any]], Any]

_HTTP = ("path", "body", "headers")
_POSTGRES = ("sql", "database", "user")

#: protocol → method → accepted keyword names.
STEP_METHODS: dict[str, dict[str, tuple[str, ...]]] = {
    "http": {verb: _HTTP for verb in ("get", "post", "put", "delete", "patch")},
    "tcp": {"send": ("data",)},
    "postgres": {"query": _POSTGRES, "exec": _POSTGRES},
    "redis": {
        "get": ("key",),
        "set": ("key", "value", "ex"),
        "del": ("key", "keys"),
        "incr": ("key",),
        "ping": (),
        "command": ("cmd", "args"),
        "keys": ("pattern",),
        "lpush": ("key", "value", "values"),
        "rpush": ("key", "value", "values"),
        "lrange": ("key", "start", "stop"),
    },
    "kafka": {
        "publish": ("topic", "value", "key"),
        "consume": ("topic", "count", "timeout"),
    },
}

_HANDLERS: dict[tuple[str, str], StepHandler] = {}


def methods_for(protocol: str) -> list[str]:
    """The step methods an interface of ``protocol`` offers (declaration order)."""
    return list(STEP_METHODS.get(protocol, {}))


def accepted_keywords(protocol: str, method: str) -> tuple[str, ...] | None:
    """The keyword names ``method`` accepts, or None if the protocol has no such method."""
    return STEP_METHODS.get(protocol, {}).get(method)


def register_handlers(protocol: str, handlers: dict[str, StepHandler]) -> None:
    """Install the runtime's handlers for declared methods (an undeclared one is a bug)."""
    declared = STEP_METHODS.get(protocol, {})
    for method, handler in handlers.items():
        if method not in declared:
            raise ValueError(f"step method {protocol}.{method} is not declared in STEP_METHODS")
        _HANDLERS[(protocol, method)] = handler


def missing_handlers() -> list[str]:
    """Declared methods without a registered handler (``protocol.method``)."""
    return [
        f"{protocol}.{method}"
        for protocol, methods in STEP_METHODS.items()
        for method in methods
        if (protocol, method) not in _HANDLERS
    ]


def call_step(iface: Any, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``iface.<method>(**kwargs)`` from a spec: check the call, then let the session run it."""
    where = f"{iface.service.name}.{iface.name}.{method}()"
    methods = STEP_METHODS.get(iface.protocol, {})
    accepted = methods.get(method)
    if accepted is None:
        known = ", ".join(methods) or "none"
        raise SpecError(
            f"{where}: the {iface.protocol} interface has no method {method!r} (methods: {known})"
        )
    if args:
        raise SpecError(f"{where}: pass arguments by keyword ({', '.join(accepted)})")
    for key in kwargs:
        if key not in accepted:
            raise SpecError(
                f"{where}: unknown keyword argument {key!r} (accepted: {', '.join(accepted)})"
            )
    session = active_session()
    if session is None:
        raise SpecError(f"{where}: steps can only run while a test runs")
    handler = _HANDLERS.get((iface.protocol, method))
    if handler is None:  # the runtime registers every declared method (tests check it)
        raise SpecError(f"{where}: no handler is registered for this step method")
    return session.run_step(iface, method, handler, kwargs)
