"""Notify sets, computed at load time: every fault, trace, partition, op, monitor and query
makes its service's seccomp filter notify exactly the syscalls it needs (no process runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from faultbox.starlark_env.loader import load_spec

WRITE = {"write", "writev", "pwrite64", "pwritev", "pwritev2"}
READ = {"read", "readv", "pread64", "preadv", "preadv2"}
FSYNC = {"fsync", "fdatasync"}

SERVICES = """
db = service("db", "/bin/sleep", interface("main", "tcp", 15432),
             ops={"persist": op(syscalls=["write", "fsync"], path="/tmp/*.wal"),
                  "unused": op(syscalls=["unlink"])})
api = service("api", "/bin/sleep", interface("http", "http", 18080))
"""


def notify_sets(tmp_path: Path, body: str, **files: str) -> dict[str, set[str]]:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    spec = tmp_path / "spec.star"
    spec.write_text(SERVICES + body)
    return load_spec(spec).registry.notify_sets


def test_nothing_is_intercepted_without_a_reason(tmp_path: Path) -> None:
    sets = notify_sets(tmp_path, "def test_plain():\n    pass\n")
    assert sets == {"db": set(), "api": set()}


@pytest.mark.parametrize(
    ("call", "db"),
    [
        ('fault(db, write=deny("EIO"), run=lambda: None)', WRITE),
        ('fault(db, fsync=delay("1ms"), read=allow(), run=lambda: None)', FSYNC | READ),
        ('fault_start(db, openat=deny("ENOENT"))', {"openat"}),
        ('fault_start(db, open=deny("ENOENT"))', {"open", "openat", "openat2"}),
        ('trace(db, syscalls=["openat", "fsync"], run=lambda: None)', {"openat"} | FSYNC),
        ('trace_start(db, syscalls=["sendto"])', {"sendto", "sendmsg"}),
    ],
)
def test_faults_and_traces_in_a_test_body(tmp_path: Path, call: str, db: set[str]) -> None:
    sets = notify_sets(tmp_path, f"def test_x():\n    {call}\n")
    assert sets == {"db": db, "api": set()}


def test_an_op_notifies_its_syscalls_only_when_used(tmp_path: Path) -> None:
    sets = notify_sets(tmp_path, 'def test_x():\n    fault(db, persist=deny("EIO"), run=None)\n')
    assert sets == {"db": WRITE | FSYNC, "api": set()}  # "unused" (unlink) is not notified
    traced = notify_sets(tmp_path, 'def test_x():\n    trace(db, syscalls=["persist"], run=None)\n')
    assert traced == {"db": WRITE | FSYNC, "api": set()}


def test_partition_notifies_connect_on_both_sides(tmp_path: Path) -> None:
    sets = notify_sets(tmp_path, "def test_x():\n    partition(db, api, run=lambda: None)\n")
    assert sets == {"db": {"connect"}, "api": {"connect"}}


def test_fault_assumption_at_top_level_and_in_a_loaded_file(tmp_path: Path) -> None:
    lib = 'def slow(svc):\n    return fault_assumption("slow", target=svc, fsync=delay("5ms"))\n'
    body = (
        'load("lib.star", "slow")\n'
        'db_down = fault_assumption("db_down", target=api, connect=deny("ECONNREFUSED"))\n'
        "slow_db = slow(db)\n"
    )
    sets = notify_sets(tmp_path, body, **{"lib.star": lib})
    # slow()'s target= is a parameter: statically it could be any service, so both get fsync.
    assert sets == {"db": FSYNC, "api": {"connect"} | FSYNC}


def test_assumption_passed_to_fault_adds_nothing_of_its_own(tmp_path: Path) -> None:
    body = (
        'down = fault_assumption("down", target=db, read=deny("EIO"))\n'
        "def test_x():\n    fault(down, run=lambda: None)\n"
    )
    assert notify_sets(tmp_path, body) == {"db": READ, "api": set()}


def test_an_unresolvable_service_counts_for_every_service(tmp_path: Path) -> None:
    body = 'def helper(svc):\n    fault(svc, write=deny("EIO"), run=lambda: None)\n'
    assert notify_sets(tmp_path, body) == {"db": WRITE, "api": WRITE}


def test_a_shadowed_builtin_is_not_a_fault(tmp_path: Path) -> None:
    body = "def fault(*args, **kwargs):\n    pass\n\ndef test_x():\n    fault(db, write=1)\n"
    assert notify_sets(tmp_path, body) == {"db": set(), "api": set()}


@pytest.mark.parametrize(
    ("call", "db", "api"),
    [
        ('monitor(check, service="db", syscall="read")', READ, set()),
        ('monitor(check, syscall="connect")', {"connect"}, {"connect"}),
        ('monitor(check, service="d*", syscall="fsync")', FSYNC, FSYNC),
        ('monitor(check, service="db", syscall="*")', set(), set()),
        ('monitor(check, service="test", syscall="write")', set(), set()),
        ('events(service="api", syscall="sendto")', set(), {"sendto", "sendmsg"}),
        ('assert_eventually(service="db", syscall="openat")', {"openat"}, set()),
        ('assert_never(service="api", syscall="connect")', set(), {"connect"}),
        (
            'assert_before(first={"service": "db", "syscall": "write"},'
            ' then={"service": "api", "syscall": "connect"})',
            WRITE,
            {"connect"},
        ),
        ('events(service="db", path="/tmp/x")', set(), set()),
    ],
)
def test_monitors_and_queries_notify_what_they_look_for(
    tmp_path: Path, call: str, db: set[str], api: set[str]
) -> None:
    body = f"def check(e):\n    pass\n\ndef test_x():\n    {call}\n"
    assert notify_sets(tmp_path, body) == {"db": db, "api": api}


def test_sets_are_the_union_of_every_reason(tmp_path: Path) -> None:
    body = (
        "def test_a():\n"
        '    fault(db, write=deny("EIO"), run=lambda: None)\n'
        "def test_b():\n"
        '    trace(db, syscalls=["openat"], run=lambda: None)\n'
        "    partition(db, api, run=lambda: None)\n"
        '    assert_never(service="api", syscall="read")\n'
    )
    assert notify_sets(tmp_path, body) == {
        "db": WRITE | {"openat", "connect"},
        "api": READ | {"connect"},
    }
