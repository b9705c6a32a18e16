"""Clients shared by the runtime's step methods and the event-source readers."""

from __future__ import annotations

from typing import Any


def redis_value(value: Any) -> Any:
    """A Redis reply as a plain value: bytes → str, nil → "", arrays → lists."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list | tuple):
        return [redis_value(v) for v in value]
    if isinstance(value, dict):
        return {str(redis_value(k)): redis_value(v) for k, v in value.items()}
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def redis_client(port: int, timeout_s: float) -> Any:
    """A redis-py client that shows replies as the server sent them and never retries.

    redis-py turns some replies into Python values (``SET`` → True) and, since 6.0, retries
    failed commands with backoff — seconds of hidden waiting when a fault kills the server.
    """
    import redis  # third-party, imported on first use: it costs ~0.16 s at start-up
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis(
        host="127.0.0.1",
        port=port,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
    )
    client.response_callbacks.clear()
    return client


def pick_interface(svc: Any, protocol: str, name: str = "") -> Any:
    """The service's interface ``name``, else its first one speaking ``protocol``.

    None if there is none (or the named one speaks another protocol).
    """
    if name:
        iface = svc.interfaces.get(name)
        return iface if iface is not None and iface.protocol == protocol else None
    return next((i for i in svc.interfaces.values() if i.protocol == protocol), None)
