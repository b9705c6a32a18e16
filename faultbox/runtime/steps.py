"""Step handlers: how the runtime drives a service through one of its interfaces.

The methods and their keywords are declared in ``starlark_env/step_methods.py``; this module
(and ``protocols/``) registers a handler for each. :func:`run_step` records ``step_send`` and
``step_recv`` events on the ``test`` host; the event log applies their clock rules
(``trace/vocabulary.py``).
"""

from __future__ import annotations

import socket
import time
from typing import Any

import httpx
from starlark import Dict, EvalError

from faultbox.starlark_env.errors import SpecError
from faultbox.starlark_env.step_methods import StepHandler, register_handlers
from faultbox.starlark_env.values import InterfaceRef, Response
from faultbox.trace.vocabulary import TEST_HOST, EventType, Field

HTTP_TIMEOUT_S = 30.0
TCP_CONNECT_TIMEOUT_S = 5.0
TCP_READ_TIMEOUT_S = 10.0


def run_step(
    session: Any, iface: InterfaceRef, method: str, handler: StepHandler, kwargs: dict[str, Any]
) -> Any:
    """Run a checked step call inside ``session``, recording its send and receive events."""
    target = iface.service.name
    log = session.log
    fields = {Field.TARGET: target, Field.METHOD: method, Field.INTERFACE: iface.name,
              Field.PROTOCOL: iface.protocol}  # fmt: skip
    log.catch_up()  # the target's earlier syscalls are sequenced (and clocked) before the send
    log.emit(EventType.STEP_SEND, TEST_HOST, fields)
    result = handler(session, iface, kwargs)
    log.catch_up()  # what the target did to answer precedes the receive, in order and clock
    recv = {Field.TARGET: target, Field.METHOD: method}
    if isinstance(result, Response):
        recv.update({Field.STATUS_CODE: str(result.status),
                     Field.DURATION_MS: str(result.duration_ms)})  # fmt: skip
        if result.error:
            recv[Field.ERROR] = result.error
    log.emit(EventType.STEP_RECV, TEST_HOST, recv)
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
        url = f"http://127.0.0.1:{session.protocol.dial_port(iface)}{path}"
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


register_handlers(
    "http", {verb.lower(): _http(verb) for verb in ("GET", "POST", "PUT", "DELETE", "PATCH")}
)


# ------------------------------------------------------------------ tcp (line based)


def _tcp_send(session: Any, iface: InterfaceRef, kwargs: dict[str, Any]) -> str:
    where = f"{iface.service.name}.send()"
    if "data" not in kwargs:
        raise SpecError(f'{where}: data= is required, e.g. send(data="PING")')
    data = _text(kwargs["data"], where, "data")
    try:
        with socket.create_connection(
            ("127.0.0.1", session.protocol.dial_port(iface)), TCP_CONNECT_TIMEOUT_S
        ) as sock:
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


register_handlers("tcp", {"send": _tcp_send})

# Protocol plugins (postgres, redis, kafka) register themselves on import.
from . import protocols  # noqa: E402, F401
