"""One path-glob dialect (faultbox/intercept/globs.py) for rules, ops, queries and monitors.

Every case of the table is checked against each implementation: the fault-rule decision
(decide.evaluate, Python loop), the native loop's matcher (loop_glob.c), and the trace query
used by events()/assert_*() and monitors (trace.query.match_event).
"""

from __future__ import annotations

import errno

import pytest

from faultbox.intercept import Rule, native
from faultbox.intercept.decide import ServiceRules, evaluate
from faultbox.intercept.globs import glob_to_regex, path_glob_matches
from faultbox.trace.events import Event
from faultbox.trace.query import match_event

PG_WAL = "/var/lib/postgresql/15/main/pg_wal/000000010000000000000001"
AOF = "/tmp/fb-redis/appendonlydir/appendonly.aof.1.incr.aof"

CASES = [
    # the globs of the book's chapters and the failure lab
    ("*.wal", "/tmp/inventory.wal", True),
    ("*.wal", "/tmp/inventory.wal.bak", False),
    ("/tmp/*.wal", "/tmp/inventory.wal", True),
    ("*pg_wal*", PG_WAL, True),
    ("*pg_wal*", "/var/lib/postgresql/15/main/base/1/1259", False),
    ("*.aof*", AOF, True),
    ("*.aof*", "/tmp/fb-redis/dump.rdb", False),
    ("*", "/tmp/x", True),
    # * and ? cross "/"
    ("/tmp/*.wal", "/tmp/a/b/x.wal", True),
    ("/tmp/*.wal", "/var/tmp/x.wal", False),
    ("/data?x", "/data/x", True),
    ("/data/?.log", "/data/a.log", True),
    ("/data/?.log", "/data/ab.log", False),
    # ** is *, and **/ also matches no directory at all
    ("/data/**/x", "/data/x", True),
    ("/data/**/x", "/data/a/b/x", True),
    ("/data/**", "/data/a/b", True),
    ("/data/**.wal", "/data/a/b/c.wal", True),
    # brackets are literal: the kernel's fd names carry them
    ("socket:[*]", "socket:[123]", True),
    ("socket:[*]", "socket:1", False),
    ("anon_inode:[eventfd]", "anon_inode:[eventfd]", True),
    ("/data/[ab].log", "/data/a.log", False),
    ("/data/[ab].log", "/data/[ab].log", True),
    ("/data/x[1]*", "/data/x[1].log", True),
    # whole value; a glob naming a directory matches the files directly inside it
    ("/tmp/inventory.wal", "/tmp/inventory.wal", True),
    ("/tmp/inventory.wal", "/tmp/inventory.walx", False),
    ("/tmp/inventory", "/tmp/inventory.wal", False),
    ("/tmp/", "/tmp/inventory.wal", True),
    ("/tmp/", "/tmp/a/inventory.wal", False),
    ("/data/*/", "/data/a/file", True),
    # literal everything else: case, backslashes, regex characters, non-ASCII
    ("*.WAL", "/tmp/x.wal", False),
    ("/a\\b*", "/a\\bc", True),
    ("/a.b(c)+", "/a.b(c)+", True),
    ("/a.b", "/aXb", False),
    ("/é/*", "/é/ü", True),
]


def _rule_decides(glob: str, path: str) -> bool:
    rules = ServiceRules("svc", 0, {1: "write"})
    rules.add([Rule("write", "deny", ("write",), errno.EIO, path_glob=glob)])
    return evaluate("svc", rules.plan(1), path, -1) is not None


def _query_matches(glob: str, path: str) -> bool:
    ev = Event(seq=1, timestamp_ns=0, type="syscall", service="svc", fields={"path": path})
    return match_event(ev, {"path": glob})


def _native_matches(glob: str, path: str) -> bool:
    mod = native.load()
    if mod is None:
        pytest.skip(f"no native loop: {native.load_error()}")
    program = native.glob_program(glob)
    assert program is not None, f"{glob!r} fell back to the regex"
    return bool(mod.glob_match(program, path.encode("utf-8", "surrogateescape")))


@pytest.mark.parametrize(("glob", "path", "hit"), CASES)
@pytest.mark.parametrize("where", ["globs", "rule", "query", "native"])
def test_glob_table(where: str, glob: str, path: str, hit: bool) -> None:
    check = {
        "globs": path_glob_matches,
        "rule": _rule_decides,
        "query": _query_matches,
        "native": _native_matches,
    }[where]
    assert check(glob, path) is hit


def test_every_string_is_a_glob() -> None:
    """No glob is malformed (no brackets, no escapes): nothing to refuse at load time."""
    for glob in ("[", "]", "[!", "[]]", "\\", "(", "*?*", "**/**/"):
        assert isinstance(glob_to_regex(glob), str)
        path_glob_matches(glob, "/x")


def test_non_path_query_fields_use_the_same_wildcards() -> None:
    ev = Event(1, 0, "syscall", "svc", {"decision": "deny(input/output error)"})
    assert match_event(ev, {"decision": "deny*"})
    assert match_event(ev, {"decision": "deny(input/output error)"})
    # the directory rule is for paths only
    assert not match_event(ev, {"decision": "deny(input/"})
