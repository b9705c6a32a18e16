"""Event sources: a service's stdout/stderr lines, PostgreSQL WAL, Redis/HTTP polling, topics.

A source either consumes lines of a service's output (``line_stream`` is ``"stdout"`` or
``"stderr"``; ``on_line(session, service, line)`` is called from the output drain thread) or
runs on its own once the service is ready (``start(session, service)`` / ``stop()``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def attach_sources(session: Any, svc: Any) -> tuple[list[Callable[[str, str], None]], list[Any]]:
    """Split ``svc.observe`` into output-line callbacks and sources started after readiness."""
    callbacks: list[Callable[[str, str], None]] = []
    started: list[Any] = []
    for source in svc.observe:
        stream = getattr(source, "line_stream", None)
        if stream:

            def on_line(s: str, line: str, src: Any = source, want: str = stream) -> None:
                if s == want:
                    src.on_line(session, svc.name, line)

            callbacks.append(on_line)
        else:
            started.append(source)
    return callbacks, started
