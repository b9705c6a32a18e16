"""Step methods: how a spec drives a service through one of its interfaces.

Each protocol registers its methods in :data:`PROTOCOLS`. A step records ``step_send`` and
``step_recv`` events on the ``test`` host with the vector-clock merges of docs/traces.md.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
from starlark import Dict, EvalError

from faultbox.starlark_env.errors import SpecError
from faultbox.starlark_env.values import InterfaceRef, Response

from .context import active_session

StepHandler = Callable[[Any, InterfaceRef, dict[str, Any]], Any]  # (session, iface, kwargs)
PROTOCOLS: dict[str, dict[str, tuple[StepHandler, tuple[str, ...]]]] = {}

HTTP_TIMEOUT_S = 30.0
TCP_CONNECT_TIMEOUT_S = 5.0
TCP_READ_TIMEOUT_S = 10.0


def register_protocol(
    protocol: str, methods: dict[str, tuple[StepHandler, tuple[str, ...]]]
) -> None:
    """Add step methods for ``protocol``: name → (handler, accepted keyword names)."""
    PROTOCOLS.setdefault(protocol, {}).update(methods)


def methods_for(protocol: str) -> list[str]:
    return list(PROTOCOLS.get(protocol, {}))


def run_step(
    iface: InterfaceRef, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Run ``iface.<method>(**kwargs)`` inside the active test, recording step events."""
    where = f"{iface.service.name}.{iface.name}.{method}()"
    methods = PROTOCOLS.get(iface.protocol, {})
    if method not in methods:
        known = ", ".join(methods) or "none"
        raise SpecError(
            f"{where}: the {iface.protocol} interface has no method {method!r} (methods: {known})"
        )
    handler, accepted = methods[method]
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
    target = iface.service.name
    log = session.log
    fields = {"target": target, "method": method, "interface": iface.name,
              "protocol": iface.protocol}  # fmt: skip
    log.catch_up()  # the target's earlier syscalls are sequenced (and clocked) before the send
    log.merge_clock(target, "test")
    log.emit("step_send", "test", fields)
    result = handler(session, iface, kwargs)
    log.catch_up()  # what the target did to answer precedes the receive, in order and clock
    log.merge_clock("test", target)
    recv = {"target": target, "method": method}
    if isinstance(result, Response):
        recv.update(status_code=str(result.status), duration_ms=str(result.duration_ms))
        if result.error:
            recv["error"] = result.error
    log.emit("step_recv", "test", recv)
    return result


# ------------------------------------------------------------------ http


def _text(value: Any, where: str, arg: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise SpecError(f"{where}: {arg}= must be a string, got {type(value).__name__}")


def _http(verb: str) -> StepHandler:
    def handler(session: Any, iface: InterfaceRef, kwargs: dict[str, Any]) -> Response:
        where = f"{iface.service.name}.{verb.lower()}()"
        path = _text(kwargs.get("path", "/"), where, "path") or "/"
        if not path.startswith("/"):
            path = "/" + path
        body = _text(kwargs.get("body"), where, "body")
        headers = kwargs.get("headers")
        hdrs: dict[str, str] = {}
        if headers is not None:
            if not isinstance(headers, Dict | dict):
                raise SpecError(f"{where}: headers= must be a dict of strings")
            hdrs = {str(k): str(v) for k, v in headers.items()}
        url = f"http://127.0.0.1:{iface.port}{path}"
        start = time.monotonic()
        try:
            resp = session.http_client().request(verb, url, content=body or None, headers=hdrs)
        except httpx.HTTPError as exc:
            ms = int((time.monotonic() - start) * 1000)
            reason = str(exc) or type(exc).__name__
            return Response(status=0, body="", ok=False, error=reason, duration_ms=ms)
        ms = int((time.monotonic() - start) * 1000)
        text = resp.text.strip()[:65536]
        return Response(
            status=resp.status_code, body=text, ok=200 <= resp.status_code < 300, error="",
            duration_ms=ms, headers=dict(resp.headers),
        )  # fmt: skip

    return handler


_HTTP_ARGS = ("path", "body", "headers")
register_protocol(
    "http",
    {verb.lower(): (_http(verb), _HTTP_ARGS) for verb in ("GET", "POST", "PUT", "DELETE", "PATCH")},
)


# ------------------------------------------------------------------ tcp (line based)


def _tcp_send(session: Any, iface: InterfaceRef, kwargs: dict[str, Any]) -> str:
    where = f"{iface.service.name}.send()"
    if "data" not in kwargs:
        raise SpecError(f'{where}: data= is required, e.g. send(data="PING")')
    data = _text(kwargs["data"], where, "data")
    try:
        with socket.create_connection(("127.0.0.1", iface.port), TCP_CONNECT_TIMEOUT_S) as sock:
            sock.settimeout(TCP_READ_TIMEOUT_S)
            sock.sendall((data.rstrip("\n") + "\n").encode())
            buf = b""
            while b"\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
    except OSError as exc:
        raise EvalError(f"tcp send failed: {iface.service.name}: {exc}") from None
    if not buf:
        raise EvalError(
            f"tcp send failed: {iface.service.name} closed the connection without answering"
        )
    return buf.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r")


register_protocol("tcp", {"send": (_tcp_send, ("data",))})

# Protocol plugins (postgres, redis, kafka) register themselves on import.
from . import protocols  # noqa: E402, F401
