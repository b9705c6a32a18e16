"""System paths: where every process reads while loading and running (no ctypes, no I/O).

Its own module so that code which only classifies paths (decide.py, generate's profile) does
not load the ctypes layer behind :mod:`faultbox.intercept.paths`.
"""

from __future__ import annotations

#: Paths every process touches while loading and running; faults skip them by default.
SYSTEM_PREFIXES: tuple[str, ...] = (
    *("/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/", "/proc/", "/sys/", "/dev/"),
    "/etc/ld.so.",
)


def is_system_path(path: str) -> bool:
    """True for a path under one of :data:`SYSTEM_PREFIXES`."""
    return path.startswith(SYSTEM_PREFIXES)
