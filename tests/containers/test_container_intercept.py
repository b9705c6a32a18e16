"""Syscall faults inside real containers (Docker, host network): the static launcher as the
entrypoint wrapper hands the seccomp listener back over a unix socket (container_handoff.py).

Every test runs with both supervisor loops. Paths are the container's view.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from faultbox.intercept import Rule, expand_syscalls
from tests.containers.intercept_harness import (
    TARGET_IN_CONTAINER,
    ContainerHarness,
    build_target,
    busybox_image,
    docker_client,
    harness_for,
)

WRITE = expand_syscalls("write")
FSYNC = expand_syscalls("fsync")
OPEN = expand_syscalls("open")
NOTIFY = (*WRITE, *FSYNC, *OPEN)
T = TARGET_IN_CONTAINER
EIO = "deny(input/output error)"


def deny(key: str, syscalls: tuple[str, ...], glob: str = "", **kw: Any) -> Rule:
    return Rule(key, "deny", syscalls, errno=5, errno_name="EIO", path_glob=glob, **kw)


@pytest.fixture(scope="module")
def client() -> Any:
    return docker_client()


@pytest.fixture(scope="module")
def image(client: Any) -> str:
    return busybox_image(client)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_target(tmp_path_factory.mktemp("ct-target"))


@pytest.fixture
def ch(client: Any, image: str, target: Path, backend: str) -> Iterator[ContainerHarness]:
    with harness_for(client, image, target, backend) as h:
        assert h.sup.backend == backend
        yield h


def test_write_deny_fires_in_container_with_container_path(ch: ContainerHarness) -> None:
    ch.rules("svc", deny("write", WRITE, "/data/*"))
    started = ch.start([T, "write", "/data/out.txt"], NOTIFY)
    rc, out = started.wait()
    assert rc == 1, out
    assert "write -1 errno=5" in out
    denied = ch.of("write", "/data/out.txt")
    assert [r.decision for r in denied] == [EIO]
    # the process is the container's init, seen by its host pid
    assert denied[0].pid == started.proc.pid
    assert ch.of("openat", "/data/out.txt"), "the open is recorded with the container path"


def test_fsync_deny_on_a_volume_uses_the_container_path(
    ch: ContainerHarness, tmp_path: Path
) -> None:
    host = tmp_path / "pgdata"
    (host / "pg_wal").mkdir(parents=True)
    ch.rules("svc", deny("fsync", FSYNC, "/var/lib/postgresql/data/pg_wal/*"))
    wal = "/var/lib/postgresql/data/pg_wal/000000010000000000000001"
    started = ch.start([T, "fsync", wal], NOTIFY, volumes=[(str(host), "/var/lib/postgresql/data")])
    rc, out = started.wait()
    assert rc == 0, out
    assert "write 5 errno=0" in out and "fsync -1 errno=5" in out
    assert [r.decision for r in ch.of("fsync", wal)] == [EIO]
    assert not [r for r in ch.records if str(host) in r.path], "host paths must not leak"
    assert (host / "pg_wal" / wal.rsplit("/", 1)[1]).read_bytes() == b"hello"


def test_op_glob_matches_container_paths(ch: ContainerHarness, tmp_path: Path) -> None:
    host = tmp_path / "wal"
    host.mkdir()
    ch.rules(
        "svc",
        Rule("wal_write", "trace", WRITE, op="wal_write", path_glob="/srv/wal/**/*.wal"),
    )
    started = ch.start([T, "write", "/srv/wal/seg1.wal"], NOTIFY, volumes=[(str(host), "/srv/wal")])
    rc, out = started.wait()
    assert rc == 0, out
    recs = ch.of("write", "/srv/wal/seg1.wal")
    assert [(r.decision, r.op) for r in recs] == [("trace", "wal_write")]
    assert all(r.op == "" for r in ch.of("write") if r.path != "/srv/wal/seg1.wal")


def test_dirfd_and_cwd_relative_opens_resolve_in_the_container(ch: ContainerHarness) -> None:
    ch.rules("svc", deny("open", OPEN, "/data/sub/*"))
    # mkdir first (busybox), then the target: a relative open after chdir, and openat(dirfd)
    script = f"mkdir -p /data/sub && {T} rel /data/sub r.txt; {T} dirfd /data/sub d.txt"
    started = ch.start(["sh", "-c", script], NOTIFY)
    rc, out = started.wait()
    assert "open r.txt errno=5" in out and "open d.txt errno=5" in out, out
    assert [r.decision for r in ch.of("openat", "/data/sub/r.txt")] == [EIO]
    assert [r.decision for r in ch.of("openat", "/data/sub/d.txt")] == [EIO]


def test_whole_process_tree_is_intercepted(ch: ContainerHarness) -> None:
    ch.rules("svc", deny("write", WRITE, "/data/child.txt"))
    started = ch.start([T, "fork", "/data/child.txt"], NOTIFY)
    rc, out = started.wait()
    assert rc == 0, out
    assert "grandchild -1 errno=5" in out
    (rec,) = ch.of("write", "/data/child.txt")
    assert rec.decision == EIO
    assert rec.pid != started.proc.pid, "decided for the grandchild, not the init"


def test_kill_while_a_delay_holds_leaves_nothing_unanswered(ch: ContainerHarness) -> None:
    handle = ch.rules(
        "svc", Rule("write", "delay", WRITE, delay_ns=120_000_000_000, path_glob="/data/hold")
    )
    started = ch.start([T, "hold", "/data/hold"], NOTIFY)
    deadline = time.monotonic() + 60
    while ch.sup.hits(handle) != [1]:  # the write is parked on the timer heap
        assert time.monotonic() < deadline, ch.records
        time.sleep(0.05)
    t0 = time.monotonic()
    started.container.kill()  # SIGKILL of the init while its write is held
    rc, out = started.wait(timeout=60)
    assert rc == 137, out
    assert time.monotonic() - t0 < 60, "the held write kept the container alive"
    assert ch.sup.wait_detached("svc", 30), "the listener never hung up"
    t0 = time.monotonic()
    ch.sup.stop()
    assert time.monotonic() - t0 < 5
    assert ch.sup.failure is None
    assert "holding" in out and "write 5" not in out
    assert [r.decision for r in ch.of("write", "/data/hold")] == ["delay(2m0s)"]


def test_docker_init_is_outside_the_filter_the_entrypoint_inside(ch: ContainerHarness) -> None:
    """With ``init=True`` the engine's init is pid 1 and the launcher its child: the peer pid
    is the launcher's, and the entrypoint's tree is covered."""
    ch.rules("svc", deny("write", WRITE, "/data/*"))
    started = ch.start([T, "fork", "/data/x"], NOTIFY, init=True)
    rc, out = started.wait()
    assert rc == 0 and "grandchild -1 errno=5" in out, out
    started.container.reload()
    assert started.container.attrs["State"]["Pid"] != started.proc.pid
    assert [r.decision for r in ch.of("write", "/data/x")] == [EIO]


def test_image_running_as_an_unprivileged_user(ch: ContainerHarness) -> None:
    """An image's USER (here nobody) runs the launcher: it reaches the socket, installs the
    filter without privileges (no_new_privs), and its writes are faulted."""
    ch.rules("svc", deny("write", WRITE, "/tmp/*"))
    started = ch.start([T, "write", "/tmp/nobody.txt"], NOTIFY, user="65534:65534")
    rc, out = started.wait()
    assert rc == 1 and "write -1 errno=5" in out, out
    assert [r.decision for r in ch.of("write", "/tmp/nobody.txt")] == [EIO]


def test_execve_notified_the_handoff_does_not_wait_for_the_exec(ch: ContainerHarness) -> None:
    """With execve in the notify set the launcher's own exec waits for the supervisor, so
    accept() returns after the ACK; the exec is then decided (and traced) like any call."""
    ch.rules("svc", Rule("exec", "trace", ("execve",)), deny("write", WRITE, "/data/*"))
    started = ch.start(["sh", "-c", f"{T} write /data/e.txt"], (*NOTIFY, "execve"))
    rc, out = started.wait()
    assert rc == 1 and "write -1 errno=5" in out, out
    execs = [r.path for r in ch.of("execve")]
    assert execs[:2] == ["/bin/sh", T], execs  # the launcher's exec, then the shell's
