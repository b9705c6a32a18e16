"""Host values that specs see: services, interfaces, healthchecks, fault rules, responses.

Attribute access goes through each value's ``fields`` mapping (the interpreter's protocol for
struct-like values). Values are hashable by identity (see ``_interp.HostValue``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from starlark import BuiltinFunction, to_value

from ._interp import HostValue
from .errors import SpecError
from .step_methods import call_step, methods_for

LOCALHOST = "localhost"


def _method(owner: str, name: str, impl: Any) -> BuiltinFunction:
    return BuiltinFunction(name=f"{owner}.{name}", impl=impl)


@dataclass(eq=False)
class Healthcheck(HostValue):
    """``tcp("host:port")`` or ``http("host:port/path")``: polled until the service is ready."""

    kind: str  # "tcp" | "http"
    host: str
    port: int
    path: str = "/"
    timeout_s: float = 10.0

    _starlark_type = "healthcheck"

    @property
    def target(self) -> str:
        if self.kind == "http":
            return f"http://{self.host}:{self.port}{self.path}"
        return f"{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f'{self.kind}("{self.host}:{self.port}{self.path if self.kind == "http" else ""}")'


@dataclass(eq=False)
class InterfaceDecl(HostValue):
    """``interface(name, protocol, port)`` before it is attached to a service."""

    name: str
    protocol: str
    port: int

    _starlark_type = "interface"

    def __repr__(self) -> str:
        return f'interface("{self.name}", "{self.protocol}", {self.port})'


@dataclass(eq=False)
class OpDef(HostValue):
    """``op(syscalls=[…], path=…)``: a named group of syscalls, optionally filtered by path."""

    syscalls: tuple[str, ...]  # as written
    expanded: tuple[str, ...]  # family-expanded
    path: str = ""

    _starlark_type = "op"

    def __repr__(self) -> str:
        path = f', path="{self.path}"' if self.path else ""
        return f"op(syscalls={list(self.syscalls)!r}{path})".replace("'", '"')


@dataclass(eq=False)
class FaultRuleSpec(HostValue):
    """``deny("EIO")``, ``delay("100ms")``, ``partial()`` or ``allow()`` before it is bound
    to a syscall."""

    action: str  # deny | delay | allow | partial
    errno_name: str = ""
    errno: int = 0
    delay_ns: int = 0
    delay_text: str = ""
    probability: float = 1.0
    label: str = ""
    partial_bytes: int = 0  # partial(bytes=N)
    partial_fraction: float = 0.0  # partial(fraction=F)

    _starlark_type = "fault_rule"

    @property
    def spec_text(self) -> str:
        """The rule as the console shows it: ``deny(EIO)``, ``delay(100ms)``, ``allow()``."""
        if self.action == "deny":
            return f"deny({self.errno_name})"
        if self.action == "delay":
            return f"delay({self.delay_text})"
        if self.action == "partial":
            if self.partial_bytes:
                return f"partial(bytes={self.partial_bytes})"
            return (
                f"partial(fraction={self.partial_fraction:g})"
                if self.partial_fraction
                else "partial()"
            )
        return "allow()"

    def __repr__(self) -> str:
        return self.spec_text


@dataclass(eq=False)
class Service(HostValue):
    """A declared service. Attributes: ``name``, one per interface, and step shorthands."""

    name: str
    binary: str = ""
    image: str = ""  # image= (or the tag built from build=): a container service
    build: str = ""  # build= as written (a Dockerfile directory)
    volumes: list[tuple[str, str, str]] = field(default_factory=list)  # (host, container, mode)
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    depends_on: list[Service] = field(default_factory=list)
    healthcheck: Healthcheck | None = None
    interfaces: dict[str, InterfaceRef] = field(default_factory=dict)
    observe: list[Any] = field(default_factory=list)
    ops: dict[str, OpDef] = field(default_factory=dict)
    user: str = ""
    workdir: str = ""
    stop_timeout_s: float = 2.0
    declared_at: str = ""

    _starlark_type = "service"

    def __repr__(self) -> str:
        return f"<service {self.name}>"

    # -- attribute protocol
    @property
    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        out.update(self.interfaces)
        for method in _SHORTHAND_METHODS:
            out.setdefault(method, _method(self.name, method, self._shorthand(method)))
        return out

    def _shorthand(self, method: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            return self.default_interface(method).call_method(method, args, kwargs)

        return call

    def default_interface(self, method: str) -> InterfaceRef:
        """The interface that ``svc.<method>()`` means: the only one, or the one named default."""
        if len(self.interfaces) == 1:
            return next(iter(self.interfaces.values()))
        if "default" in self.interfaces:
            return self.interfaces["default"]
        if not self.interfaces:
            raise SpecError(f"service {self.name!r} has no interfaces; {method}() needs one")
        names = ", ".join(self.interfaces)
        first = next(iter(self.interfaces))
        raise SpecError(
            f"service {self.name!r} has multiple interfaces ({names}); "
            f"say which one, e.g. {self.name}.{first}.{method}(...)"
        )


# Methods offered on the service itself; each dispatches to the default interface.
_SHORTHAND_METHODS = (
    "get", "post", "put", "delete", "patch", "send",
    "query", "exec", "set", "incr", "ping", "command", "publish", "consume", "del",
)  # fmt: skip


@dataclass(eq=False)
class InterfaceRef(HostValue):
    """``svc.<iface>``: address attributes and the protocol's step methods."""

    service: Service
    name: str
    protocol: str
    port: int

    _starlark_type = "interface_ref"

    def __repr__(self) -> str:
        return f"<interface {self.service.name}.{self.name} {self.protocol}:{self.port}>"

    @property
    def host(self) -> str:
        return LOCALHOST

    @property
    def addr(self) -> str:
        return f"{LOCALHOST}:{self.port}"

    @property
    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "protocol": self.protocol,
            "addr": self.addr,
            "internal_addr": self.addr,
            "host": self.host,
            "port": self.port,
            "service": self.service,
        }
        for method in methods_for(self.protocol):
            out[method] = _method(f"{self.service.name}.{self.name}", method, self._bound(method))
        return out

    def _bound(self, method: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            return self.call_method(method, args, kwargs)

        return call

    def call_method(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return call_step(self, method, args, kwargs)


@dataclass(eq=False)
class Response(HostValue):
    """The result of an HTTP (or other request/response) step."""

    status: int
    body: str
    ok: bool
    error: str
    duration_ms: int
    headers: dict[str, str] = field(default_factory=dict)

    _starlark_type = "response"

    def __repr__(self) -> str:
        return f"<response status={self.status}>"

    @property
    def data(self) -> Any:
        try:
            return to_value(json.loads(self.body))
        except (ValueError, TypeError):
            return self.body

    @property
    def fields(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "body": self.body,
            "data": self.data,
            "ok": self.ok,
            "error": self.error,
            "duration_ms": self.duration_ms,
            "headers": to_value(self.headers),
        }
