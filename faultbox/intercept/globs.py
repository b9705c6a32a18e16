"""The one path-glob dialect of faultbox: op ``path=``, fault rules, queries and monitors.

* ``*`` matches any run of characters, ``/`` included (``*.wal`` matches ``/tmp/inventory.wal``);
  ``**`` is the same as ``*``, and ``**/`` matches zero or more whole directories
  (``/data/**/x.wal`` matches ``/data/x.wal`` and ``/data/a/b/x.wal``);
* ``?`` matches exactly one character, ``/`` included;
* everything else is literal, brackets too: the kernel names fds ``socket:[123]``,
  ``pipe:[45]``, ``anon_inode:[eventfd]``, so ``socket:[*]`` means "any socket";
* the glob must match the whole value; for a path, matching ``dirname(path) + "/"`` also
  counts, so ``/tmp/`` names the files directly inside ``/tmp``.

The native loop runs the same translation: ``native.glob_program`` turns a glob into the
token program loop_glob.c executes (see docs/spec-language.md, "Path globs").
This module imports nothing of faultbox, so trace queries can use it without loading the
supervisor.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

__all__ = ["compile_glob", "glob_matches", "glob_to_regex", "path_glob_matches", "value_matches"]


def glob_to_regex(glob: str) -> str:
    """The regex (for ``fullmatch``, ``re.DOTALL``) that a glob stands for."""
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        if c == "*":
            j = i
            while j < n and glob[j] == "*":
                j += 1
            if j - i >= 2 and glob.startswith("/", j):
                out.append("(?:.*/)?")  # "**/": zero or more whole directories
                j += 1
            else:
                out.append(".*")
            i = j
        elif c == "?":
            out.append(".")
            i += 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


@functools.lru_cache(maxsize=1024)
def compile_glob(glob: str) -> re.Pattern[str]:
    """Compiled :func:`glob_to_regex` (cached; never raises: every string is a glob)."""
    return re.compile(glob_to_regex(glob), re.DOTALL)


def glob_matches(pattern: re.Pattern[str], path: str) -> bool:
    """The compiled glob names ``path`` itself or its directory (``dirname(path) + "/"``)."""
    if pattern.fullmatch(path):
        return True
    cut = path.rfind("/")
    return cut > 0 and pattern.fullmatch(path[: cut + 1]) is not None


def path_glob_matches(glob: str, path: str) -> bool:
    """:func:`glob_matches` for a glob given as text ("" matches every path)."""
    return glob == "" or glob_matches(compile_glob(glob), path)


@functools.lru_cache(maxsize=1024)
def value_matches(pattern: str, *, path: bool = False) -> Callable[[str], bool]:
    """A predicate for a query filter: "" matches anything, a pattern without ``*``/``?``
    is compared exactly, anything else is a glob over the whole value (with the directory
    rule when ``path``)."""
    if pattern == "":
        return lambda _value: True
    if "*" not in pattern and "?" not in pattern and not path:
        return pattern.__eq__
    rx = compile_glob(pattern)
    if path:
        return lambda value: glob_matches(rx, value)
    return lambda value: rx.fullmatch(value) is not None
