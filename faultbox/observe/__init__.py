"""Event-source readers: a service's stdout/stderr lines, PostgreSQL WAL, Redis/HTTP polling,
Kafka topics.

A reader belongs to one service in one test session and writes into that test's event log.
The spec's declarations (``starlark_env/source_values.py``) are turned into readers by the
session (``runtime/source_readers.py``); this package imports neither of them. A line reader
(``logs.LineReader``) is fed from the service's output drain thread; the others start once
the service is ready (``start()`` / ``stop()``, raising ``SourceStartError`` when they cannot
start) and register a drain so that assertions see everything already produced.
"""

from .logs import LineReader
from .start_errors import SourceStartError

__all__ = ["LineReader", "SourceStartError"]
