"""Event sources: a service's stdout/stderr lines, PostgreSQL WAL, Redis/HTTP polling, topics.

A source either consumes lines of a service's output (``line_stream`` is ``"stdout"`` or
``"stderr"``; ``on_line(session, service, line)`` is called from the output drain thread) or
runs on its own once the service is ready (``start(session, service)`` / ``stop()``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def default_log_sources(svc: Any) -> list[Any]:
    """Every service's stdout and stderr are recorded, decoded by :func:`decoders.auto`,
    unless the spec attached its own source for that stream."""
    from .decoders import auto
    from .logs import DecoderValue, StreamSource

    explicit = {getattr(s, "line_stream", None) for s in svc.observe}
    return [
        StreamSource(stream, DecoderValue("auto", auto))
        for stream in ("stdout", "stderr")
        if stream not in explicit
    ]


def attach_sources(session: Any, svc: Any) -> tuple[list[Callable[[str, str], None]], list[Any]]:
    """Split the service's sources into output-line callbacks and sources started after
    readiness (the spec's ``observe=[…]`` plus the default log sources)."""
    callbacks: list[Callable[[str, str], None]] = []
    started: list[Any] = []
    for source in [*svc.observe, *default_log_sources(svc)]:
        stream = getattr(source, "line_stream", None)
        if stream:

            def on_line(s: str, line: str, src: Any = source, want: str = stream) -> None:
                if s != want:
                    return
                try:
                    src.on_line(session, svc.name, line)
                except Exception as exc:  # the trace says so; the drain goes on
                    session.log.emit("source_error", svc.name, {"source": want, "error": f"{exc}"})

            callbacks.append(on_line)
        else:
            started.append(source)
    return callbacks, started
