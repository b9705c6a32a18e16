"""Topology builtins: ``service``, ``interface``, ``tcp``, ``http``, ``op``."""

from __future__ import annotations

import re
from typing import Any

from starlark import Dict, StarlarkList

from faultbox.common.containers import ContainerSpecProblem, parse_volume, resolve_image
from faultbox.intercept import expand_syscalls

from ._builtin import builtin, type_name, want
from .duration_args import duration_arg
from .errors import SpecError
from .registry import current_registry
from .source_values import check_observe_list
from .values import Healthcheck, InterfaceDecl, InterfaceRef, OpDef, Service

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*\Z")  # \Z: "$" would let a trailing newline through
KNOWN_PROTOCOLS = ("http", "tcp", "postgres", "redis", "kafka", "grpc", "mysql", "nats", "udp")


def _str_list(value: Any, builtin_name: str, arg: str) -> list[str]:
    if not isinstance(value, StarlarkList | list | tuple):
        raise SpecError(
            f"{builtin_name}(): {arg} must be a list of strings, got {type_name(value)}"
        )
    out = []
    for item in value:
        if not isinstance(item, str):
            raise SpecError(f"{builtin_name}(): {arg} must contain strings, got {type_name(item)}")
        out.append(item)
    return out


def _str_dict(value: Any, builtin_name: str, arg: str) -> dict[str, str]:
    if not isinstance(value, Dict | dict):
        raise SpecError(
            f"{builtin_name}(): {arg} must be a dict of strings, got {type_name(value)}"
        )
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str):
            raise SpecError(f"{builtin_name}(): {arg} keys must be strings, got {type_name(k)}")
        if isinstance(v, bool) or not isinstance(v, str | int | float):
            raise SpecError(f"{builtin_name}(): {arg}[{k!r}] must be a string, got {type_name(v)}")
        out[k] = str(v)
    return out


def _check_process_strings(args: list[str], env: dict[str, str]) -> None:
    """What execve() cannot take: a NUL byte anywhere, an env name that is empty or has '='."""
    for item in args:
        if "\0" in item:
            raise SpecError(f"service(): args item {item!r} contains a NUL byte")
    for key, value in env.items():
        if not key or "=" in key or "\0" in key:
            raise SpecError(f"service(): env name {key!r} is not valid (no '=' or NUL, not empty)")
        if "\0" in value:
            raise SpecError(f"service(): env[{key!r}] contains a NUL byte")


@builtin("interface")
def interface(name: str, protocol: str, port: int) -> InterfaceDecl:
    """Declare an endpoint: ``interface("main", "tcp", 5432)``."""
    want(name, str, "interface", "name", "a string")
    want(protocol, str, "interface", "protocol", "a string")
    want(port, int, "interface", "port", "an int")
    if not _NAME.match(name):
        raise SpecError(f"interface(): invalid name {name!r} (letters, digits, _ and -)")
    if protocol not in KNOWN_PROTOCOLS:
        raise SpecError(
            f"interface(): unknown protocol {protocol!r} (known: {', '.join(KNOWN_PROTOCOLS)})"
        )
    if not 0 < port < 65536:
        raise SpecError(f"interface(): port {port} is out of range 1-65535")
    return InterfaceDecl(name=name, protocol=protocol, port=port)


def _parse_hostport(target: str, builtin_name: str) -> tuple[str, int, str]:
    rest = target
    for scheme in ("tcp://", "http://"):
        if rest.startswith(scheme):
            rest = rest[len(scheme) :]
    hostport, slash, path = rest.partition("/")
    host, colon, port_text = hostport.rpartition(":")
    if not colon or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise SpecError(
            f'{builtin_name}(): bad address {target!r}: write "host:port"'
            + (' or "host:port/path"' if builtin_name == "http" else "")
        )
    return host, int(port_text), "/" + path if slash else "/"


@builtin("tcp")
def tcp(addr: str, timeout: Any = "10s") -> Healthcheck:
    """TCP healthcheck: ready when ``host:port`` accepts a connection."""
    want(addr, str, "tcp", "address", "a string")
    host, port, _ = _parse_hostport(addr, "tcp")
    return Healthcheck("tcp", host, port, "/", duration_arg(timeout, "tcp", "timeout"))


@builtin("http")
def http(addr: str, timeout: Any = "10s") -> Healthcheck:
    """HTTP healthcheck: ready when ``GET http://host:port/path`` answers 2xx or 3xx."""
    want(addr, str, "http", "address", "a string")
    host, port, path = _parse_hostport(addr, "http")
    return Healthcheck("http", host, port, path, duration_arg(timeout, "http", "timeout"))


@builtin("op")
def op(syscalls: Any = None, path: str = "") -> OpDef:
    """A named operation: ``op(syscalls=["write", "fsync"], path="/tmp/*.wal")``."""
    if syscalls is None:
        raise SpecError('op(): syscalls= is required, e.g. op(syscalls=["write", "fsync"])')
    names = _str_list(syscalls, "op", "syscalls")
    if not names:
        raise SpecError("op(): syscalls= must name at least one syscall")
    want(path, str, "op", "path", "a string")
    expanded: list[str] = []
    for name in names:
        try:
            for sc in expand_syscalls(name):
                if sc not in expanded:
                    expanded.append(sc)
        except ValueError:
            raise SpecError(f"op(): unknown syscall {name!r}") from None
    return OpDef(tuple(names), tuple(expanded), path)


def _volumes(name: str, value: Any) -> list[tuple[str, str, str]]:
    if value is None:
        return []
    try:
        return [parse_volume(name, h, t) for h, t in _str_dict(value, "service", "volumes").items()]
    except ContainerSpecProblem as exc:
        raise SpecError(str(exc)) from None


@builtin("service")
def service(
    name: str,
    *items: Any,
    binary: str = "",
    image: str = "",
    build: str = "",
    args: Any = None,
    env: Any = None,
    depends_on: Any = None,
    healthcheck: Any = None,
    observe: Any = None,
    ops: Any = None,
    user: str = "",
    workdir: str = "",
    stop_timeout: Any = "2s",
    volumes: Any = None,
) -> Service:
    """Declare a service (a real process started fresh for every test)."""
    want(name, str, "service", "name", "a string")
    if not _NAME.match(name):
        raise SpecError(f"service(): invalid name {name!r} (letters, digits, _ and -)")
    decls: list[InterfaceDecl] = []
    for item in items:
        if isinstance(item, str):
            if binary:
                raise SpecError(f"service({name!r}): the binary is given twice")
            binary = item
        elif isinstance(item, InterfaceDecl):
            decls.append(item)
        else:
            raise SpecError(
                f"service({name!r}): positional arguments must be the binary path or "
                f"interface(...) values, got {type_name(item)}"
            )
    want(binary, str, "service", "binary", "a string")
    want(image, str, "service", "image", "a string")
    want(user, str, "service", "user", "a string")
    want(workdir, str, "service", "workdir", "a string")
    want(build, str, "service", "build", "a string")
    if sum(bool(x) for x in (binary, image, build)) != 1:
        raise SpecError(
            f"service({name!r}): give exactly one of a binary path or image= (or build=)"
        )
    if user and not (image or build):  # a container's user= is one of its image's users
        import pwd

        try:
            pwd.getpwnam(user)
        except (KeyError, ValueError):  # ValueError: a NUL byte in the name
            raise SpecError(
                f"service({name!r}): user {user!r} does not exist on this machine"
            ) from None
    svc = Service(name=name, binary=binary, image=image, user=user, workdir=workdir)
    if image or build:
        svc.build = build
        svc.volumes = _volumes(name, volumes)
        try:  # at this line: no engine / no such image is a load error, not a start failure
            svc.image = resolve_image(name, image, build, current_registry().base_dir)
        except ContainerSpecProblem as exc:
            raise SpecError(str(exc)) from None
    elif volumes is not None:
        raise SpecError(f"service({name!r}): volumes= is for image= or build= services")
    svc.args = _str_list(args, "service", "args") if args is not None else []
    svc.env = _str_dict(env, "service", "env") if env is not None else {}
    _check_process_strings(svc.args, svc.env)
    svc.stop_timeout_s = duration_arg(stop_timeout, "service", "stop_timeout")
    for decl in decls:
        if decl.name in svc.interfaces:
            raise SpecError(f"service({name!r}): interface {decl.name!r} declared twice")
        svc.interfaces[decl.name] = InterfaceRef(svc, decl.name, decl.protocol, decl.port)
    if depends_on is not None:
        reg = current_registry()
        if not isinstance(depends_on, StarlarkList | list | tuple):
            raise SpecError(f"service({name!r}): depends_on must be a list of services")
        for dep in depends_on:
            if isinstance(dep, str):  # resolved after loading (allows forward references)
                dep = reg.services.get(dep, dep)
            if not isinstance(dep, Service | str):
                raise SpecError(
                    f"service({name!r}): depends_on items must be services, got {type_name(dep)}"
                )
            svc.depends_on.append(dep)  # type: ignore[arg-type]  # a name: spec_checks resolves it
    if healthcheck is not None:
        if not isinstance(healthcheck, Healthcheck):
            raise SpecError(
                f"service({name!r}): healthcheck must be tcp(...) or http(...), "
                f"got {type_name(healthcheck)}"
            )
        svc.healthcheck = healthcheck
    if observe is not None:
        svc.observe = check_observe_list(name, observe)
    if ops is not None:
        if not isinstance(ops, Dict | dict):
            raise SpecError(f"service({name!r}): ops must be a dict of name: op(...)")
        for op_name, op_def in ops.items():
            if not isinstance(op_name, str) or not _NAME.match(op_name):
                raise SpecError(f"service({name!r}): invalid op name {op_name!r}")
            if not isinstance(op_def, OpDef):
                raise SpecError(
                    f"service({name!r}): ops[{op_name!r}] must be op(...), got {type_name(op_def)}"
                )
            svc.ops[op_name] = op_def
    current_registry().add_service(svc)
    return svc
