"""Builtin registration with strict argument checking.

Every builtin is a plain Python function registered with :func:`builtin`. Before it runs,
its arguments are bound against its Python signature, so an unknown keyword, a missing
argument or too many positional arguments becomes a :class:`SpecError` that names the
builtin (the interpreter adds file and line). Type checks use :func:`want`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from starlark import BuiltinFunction, namespace
from starlark.eval.values import starlark_type

from .errors import SpecError

_BUILTINS: dict[str, Callable[..., Any]] = {}
_NAMESPACES: dict[str, dict[str, Callable[..., Any]]] = {}


def builtin(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``fn`` as the Starlark builtin ``name``."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        _BUILTINS[name] = fn
        return fn

    return register


def register_namespace(name: str, members: dict[str, Callable[..., Any]]) -> None:
    """Offer ``members`` as ``name.<member>`` builtins (``observe.stdout(...)``)."""
    _NAMESPACES.setdefault(name, {}).update(members)


def checked(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``fn`` so that a call that does not fit its signature raises a clear SpecError."""
    sig = inspect.signature(fn)
    params = sig.parameters
    accepts_any_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    keyword_names = [
        p.name
        for p in params.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and not p.name.startswith("_")
    ]

    def call(*args: Any, **kwargs: Any) -> Any:
        if not accepts_any_kw:
            for key in kwargs:
                if key not in params or params[key].kind is inspect.Parameter.POSITIONAL_ONLY:
                    raise SpecError(
                        f"{name}(): unknown keyword argument {key!r}"
                        f" (accepted: {', '.join(keyword_names) or 'none'})"
                    )
        try:
            sig.bind(*args, **kwargs)
        except TypeError as exc:
            text = str(exc).replace("'", "")
            raise SpecError(f"{name}(): {text}") from None
        return fn(*args, **kwargs)

    call.__name__ = fn.__name__
    call.__doc__ = fn.__doc__
    return call


def make_builtin(name: str, fn: Callable[..., Any]) -> BuiltinFunction:
    """``fn`` as a Starlark builtin called ``name``, with strict argument checking."""
    return BuiltinFunction(name=name, impl=checked(name, fn))


def predeclared() -> dict[str, Any]:
    """Every registered builtin, wrapped for Starlark (plus namespaces such as ``observe``).

    Builtins register when their module is imported (the loader imports them all).
    """
    env: dict[str, Any] = {name: make_builtin(name, fn) for name, fn in _BUILTINS.items()}
    for ns, members in _NAMESPACES.items():
        env[ns] = namespace(ns, {k: make_builtin(f"{ns}.{k}", fn) for k, fn in members.items()})
    return env


def type_name(value: Any) -> str:
    return starlark_type(value)


def want(value: Any, types: type | tuple[type, ...], builtin_name: str, arg: str, what: str) -> Any:
    """Return ``value`` if it is an instance of ``types``, else raise a SpecError."""
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise SpecError(f"{builtin_name}(): {arg} must be {what}, got bool")
    if not isinstance(value, types):
        raise SpecError(f"{builtin_name}(): {arg} must be {what}, got {type_name(value)}")
    return value
