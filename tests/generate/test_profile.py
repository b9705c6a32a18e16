"""Judging mutations by a profile: which syscalls count as the ones a mutation would fault.

The profiles here are written out call by call (service, syscall, fd target / destination) so
that each rule is pinned down; test_profile_e2e.py produces them from real services.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from faultbox.generate.call_graph import analyze
from faultbox.generate.mutations import Mutation, build_mutations
from faultbox.generate.profile import Call, ScenarioProfile, apply_profile, profiled_syscalls
from faultbox.starlark_env.loader import load_spec


@pytest.fixture
def ch10(spec_dir: Path, fbx) -> dict[str, Mutation]:  # noqa: ANN001 - the e2e helper module
    (spec_dir / "spec.star").write_text(fbx.CH10_TOPOLOGY, encoding="utf-8")
    return {m.kind.kind: m for m in build_mutations(analyze(load_spec(spec_dir / "spec.star")))}


def _judge(m: Mutation, *calls: Call) -> tuple[tuple[str, ...], str] | str:
    """(keys, evidence) when ``m`` is kept, else the reason it was skipped."""
    kept, skipped = apply_profile([m], {"order_flow": ScenarioProfile("order_flow", list(calls))})
    if kept:
        return kept[0].keys, kept[0].seen
    return skipped[0].reason


def during(service: str, syscall: str, path: str) -> Call:
    return Call(service, syscall, path, True)


CONNECT = during("api", "connect", "127.0.0.1:5432")


def test_connect_faults_need_a_connect_to_the_callee_while_the_scenario_runs(ch10) -> None:  # noqa: ANN001
    assert _judge(ch10["down"], CONNECT, CONNECT) == (
        ("connect",),
        "seen 2× from api to db in the profile run",
    )
    # Elsewhere (another port), or only while services started (a pool): cannot fire.
    other = during("api", "connect", "127.0.0.1:6379")
    at_start = Call("api", "connect", "127.0.0.1:5432", False)
    for calls in ((other,), (at_start,), ()):
        assert _judge(ch10["slow"], *calls) == "api never connected to db (port 5432)"
    assert _judge(ch10["partition"], CONNECT) == ((), "seen 1× in the profile run")
    assert _judge(ch10["partition"]) == "api and db never connected to each other"


def test_the_reset_keeps_the_receive_families_seen_on_sockets(ch10) -> None:  # noqa: ANN001
    reset = ch10["reset"]
    read = during("api", "read", "socket:[7]")
    recv = during("api", "recvfrom", "socket:[7]")
    assert _judge(reset, CONNECT, read, read) == (
        ("read",),
        "seen read 2× on sockets in the profile run",
    )
    assert _judge(reset, CONNECT, recv)[0] == ("recvfrom",)
    assert _judge(reset, CONNECT, recv, during("api", "recvmsg", "socket:[8]"), read)[0] == (
        "read",
        "recvfrom",
    )
    # Reading files is no connection to reset.
    assert _judge(reset, CONNECT, during("api", "read", "/etc/app.conf")) == (
        "api received nothing on a socket"
    )
    # A connection opened while services started still counts for the reset (pools).
    pooled = Call("api", "connect", "127.0.0.1:5432", False)
    assert _judge(reset, pooled, read)[0] == ("read",)
    assert _judge(reset, read) == "api never connected to db (port 5432)"


def test_disk_faults_need_a_file_on_disk(ch10) -> None:  # noqa: ANN001
    io_error, fsync = ch10["io_error"], ch10["fsync_fail"]
    sockets = (during("db", "write", "socket:[3]"), during("db", "writev", "pipe:[4]"))
    assert _judge(io_error, *sockets) == (
        "db wrote to no file (write 1×, writev 1×, all on sockets or pipes)"
    )
    assert _judge(io_error, during("db", "write", "/dev/null")) == (
        "db wrote to no file (write 1×, all on system paths)"
    )
    assert _judge(io_error) == "db never called write"
    wal = during("db", "pwrite64", "/var/lib/db/wal")
    assert _judge(io_error, *sockets, wal) == (
        ("write",),
        "seen pwrite64 1× on /var/lib/db/wal in the profile run",
    )
    assert _judge(fsync, *sockets, wal) == "db never called fsync or fdatasync"
    assert _judge(fsync, during("db", "fdatasync", "/var/lib/db/wal"))[0] == ("fsync",)
    # Only the faulted service's calls count.
    assert _judge(io_error, during("api", "write", "/var/log/api.log")) == "db never called write"


def test_a_profile_that_could_not_run_keeps_everything_unchecked(ch10) -> None:  # noqa: ANN001
    muts = list(ch10.values())
    failed = ScenarioProfile("order_flow", error='service "db" failed to start: port 5432 in use')
    kept, skipped = apply_profile(muts, {"order_flow": failed})
    assert skipped == [] and len(kept) == len(muts)
    assert {m.unchecked for m in kept} == {'service "db" failed to start: port 5432 in use'}
    assert [m.keys for m in kept] == [m.keys for m in muts]  # both receive families, unchecked
    assert apply_profile(muts, {}) == (muts, [])  # a scenario not profiled: unchanged


def test_the_profile_intercepts_every_syscall_a_mutation_can_fault() -> None:
    assert {"connect", "read", "readv", "recvfrom", "recvmsg", "write", "pwrite64"} <= (
        profiled_syscalls()
    )
    assert {"fsync", "fdatasync"} <= profiled_syscalls()


def test_generate_never_imports_the_runtime() -> None:
    """The profile runner is handed in by cli.py; generate stays below the runtime."""
    import ast

    import faultbox.generate

    package = Path(faultbox.generate.__file__).parent
    for path in sorted(package.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            assert not any(n.startswith("faultbox.runtime") for n in names), (path.name, names)
