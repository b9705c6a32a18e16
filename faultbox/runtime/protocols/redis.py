"""Redis steps: ``get set del incr ping command keys lpush rpush lrange``.

Each step opens a connection to 127.0.0.1:<port>, sends one command and closes it. Replies
become the Response ``body``: bulk strings as text (nil → ``""``), integers as their decimal
text (``.data`` → int), arrays as JSON lists (``.data`` → list).

    r = cache.main.set(key="k", value="v")      # body "OK"
    r = cache.main.get(key="k")                 # body "v"
    r = cache.main.command(cmd="HSET h f 1")    # any command, split like a shell line
    r = cache.main.command(args=["SET", "k", "two words"])
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from starlark import StarlarkList

from faultbox.common.clients import redis_client, redis_value
from faultbox.starlark_env.errors import SpecError
from faultbox.starlark_env.step_methods import register_handlers
from faultbox.starlark_env.values import InterfaceRef, Response

from ._common import STEP_TIMEOUT_S, Timer, arg_int, arg_str, no_answer, ok, server_error, where


def _values(kwargs: dict[str, Any], single: str, many: str, place: str) -> list[str]:
    if many in kwargs and kwargs[many] is not None:
        items = kwargs[many]
        if not isinstance(items, StarlarkList | list | tuple):
            raise SpecError(f"{place}: {many}= must be a list")
        return [arg_str({"v": v}, "v", f"{place} {many}[]") for v in items]
    return [arg_str(kwargs, single, place, required=True)]


def _execute(session: Any, iface: InterfaceRef, argv: list[str]) -> Response:
    import redis

    timer = Timer()
    client = redis_client(session.protocol.dial_port(iface), STEP_TIMEOUT_S)
    try:
        reply = client.execute_command(*argv)
    except redis.ResponseError as exc:
        return server_error(str(exc), timer)
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        return no_answer(session, iface, str(exc) or type(exc).__name__, timer)
    finally:
        client.close()
    value = redis_value(reply)
    if isinstance(value, bool):
        value = int(value)
    body = value if isinstance(value, str) else json.dumps(value)
    return ok(body, timer)


def _method(name: str, build: Any) -> Any:
    def handler(session: Any, iface: InterfaceRef, kwargs: dict[str, Any]) -> Response:
        return _execute(session, iface, build(kwargs, where(iface, name)))

    return handler


def _set(kw: dict[str, Any], place: str) -> list[str]:
    argv = [
        "SET",
        arg_str(kw, "key", place, required=True),
        arg_str(kw, "value", place, required=True),
    ]
    if kw.get("ex") is not None:
        argv += ["EX", str(arg_int(kw, "ex", place, 0))]
    return argv


def _command(kw: dict[str, Any], place: str) -> list[str]:
    if kw.get("args") is not None:
        argv = _values(kw, "cmd", "args", place)
    else:
        argv = shlex.split(arg_str(kw, "cmd", place, required=True))
    if not argv:
        raise SpecError(f'{place}: the command is empty, e.g. command(cmd="HGETALL h")')
    return argv


# The keywords each method accepts are declared in starlark_env/step_methods.py.
_METHODS: dict[str, Any] = {
    "get": lambda kw, p: ["GET", arg_str(kw, "key", p, required=True)],
    "set": _set,
    "del": lambda kw, p: ["DEL", *_values(kw, "key", "keys", p)],
    "incr": lambda kw, p: ["INCR", arg_str(kw, "key", p, required=True)],
    "ping": lambda kw, p: ["PING"],
    "command": _command,
    "keys": lambda kw, p: ["KEYS", arg_str(kw, "pattern", p, default="*")],
    "lpush": lambda kw, p: [
        "LPUSH",
        arg_str(kw, "key", p, required=True),
        *_values(kw, "value", "values", p),
    ],
    "rpush": lambda kw, p: [
        "RPUSH",
        arg_str(kw, "key", p, required=True),
        *_values(kw, "value", "values", p),
    ],
    "lrange": lambda kw, p: [
        "LRANGE",
        arg_str(kw, "key", p, required=True),
        str(arg_int(kw, "start", p, 0)),
        str(arg_int(kw, "stop", p, -1)),
    ],
}

register_handlers("redis", {name: _method(name, build) for name, build in _METHODS.items()})
