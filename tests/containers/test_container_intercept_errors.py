"""The container hand-off's failures are clear errors, and it leaves nothing behind."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from faultbox.intercept import InterceptUnavailable, LaunchError, Rule, expand_syscalls
from faultbox.intercept.container_handoff import (
    LAUNCHER_IN_CONTAINER,
    SOCKET_DIR_IN_CONTAINER,
    prepare,
)
from tests.containers.intercept_harness import (
    TARGET_IN_CONTAINER,
    ContainerHarness,
    bind,
    build_target,
    busybox_image,
    docker_client,
    exit_probe,
    harness_for,
)

FSYNC = expand_syscalls("fsync")


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
def ch(client: Any, image: str, target: Path) -> Iterator[ContainerHarness]:
    with harness_for(client, image, target, "python") as h:
        yield h


def test_nothing_to_notify_needs_no_handoff(tmp_path: Path) -> None:
    assert prepare((), str(tmp_path)) is None
    assert os.listdir(tmp_path) == []


def test_close_removes_the_socket_and_is_idempotent(tmp_path: Path) -> None:
    h = prepare(FSYNC, str(tmp_path))
    assert h is not None
    assert os.listdir(h.socket_dir) == ["launcher.sock"]
    assert [m[1:] for m in h.mounts] == [
        (LAUNCHER_IN_CONTAINER, "ro"),
        (SOCKET_DIR_IN_CONTAINER, "ro"),
    ]
    h.close()
    h.close()
    assert os.listdir(tmp_path) == []
    with pytest.raises(LaunchError, match="already used or closed"):
        h.accept(1)


def test_empty_argv_is_refused(tmp_path: Path) -> None:
    h = prepare(FSYNC, str(tmp_path))
    assert h is not None
    try:
        with pytest.raises(LaunchError, match="no entrypoint or command"):
            h.wrap([])
    finally:
        h.close()


def test_exec_failure_in_the_container(ch: ContainerHarness) -> None:
    with pytest.raises(LaunchError, match="container entrypoint: exec /no/such/binary: No such"):
        ch.start(["/no/such/binary", "x"], FSYNC)


def test_container_that_exits_before_the_handoff(ch: ContainerHarness) -> None:
    h = ch.handoff(FSYNC)
    mounts = [bind(src, dst, mode) for src, dst, mode in h.mounts]
    container = ch.run_container(["/bin/true"], mounts)  # not wrapped: never connects
    with pytest.raises(LaunchError, match=r"container exited before the hand-off \(exited, exit"):
        h.accept(120, exited=exit_probe(container))


def test_launcher_without_its_socket_says_why(ch: ContainerHarness) -> None:
    h = ch.handoff(FSYNC)
    launcher_only = [bind(src, dst, mode) for src, dst, mode in h.mounts[:1]]
    container = ch.run_container(h.wrap([TARGET_IN_CONTAINER, "write", "/data/x"]), launcher_only)
    with pytest.raises(LaunchError, match="exited before the hand-off .*exit code 2"):
        h.accept(120, exited=exit_probe(container))
    assert "faultbox-launcher: connect /.faultbox/handoff/launcher.sock: No such file" in (
        container.logs().decode()
    )


def test_timeout_when_nobody_connects(ch: ContainerHarness) -> None:
    h = ch.handoff(FSYNC)
    container = ch.run_container(["/bin/sleep", "600"])
    with pytest.raises(LaunchError, match="no hand-off from the container's launcher within 3s"):
        h.accept(3, exited=exit_probe(container))


def test_second_supervisor_in_the_container_is_ebusy(ch: ContainerHarness) -> None:
    """A launcher under another user-notify filter (here: our own outer launcher) is told
    EBUSY by the kernel and reports InterceptUnavailable; Docker's own profile has none."""
    outer, inner = ch.handoff(FSYNC), ch.handoff(FSYNC)
    ch.rules("outer", Rule("fsync", "trace", FSYNC))
    inner_dir = "/.faultbox/inner"
    inner_argv = [
        a.replace(SOCKET_DIR_IN_CONTAINER, inner_dir)
        for a in inner.wrap([TARGET_IN_CONTAINER, "fsync", "/data/x"])
    ]
    mounts = [bind(src, dst, mode) for src, dst, mode in outer.mounts]
    mounts.append(bind(inner.socket_dir, inner_dir, "ro"))
    container = ch.run_container(outer.wrap(inner_argv), mounts)
    proc = outer.accept(120, exited=exit_probe(container))
    ch.procs.append(proc)
    ch.sup.attach("outer", proc)
    with pytest.raises(InterceptUnavailable, match="EBUSY: this process already runs under"):
        inner.accept(120, exited=exit_probe(container))
    assert container.wait(timeout=60)["StatusCode"] == 3


def test_fd_limit_below_the_handoff_fd_says_why(ch: ContainerHarness) -> None:
    from docker.types import Ulimit  # local import: optional test dependency

    h = ch.handoff(FSYNC)
    mounts = [bind(src, dst, mode) for src, dst, mode in h.mounts]
    limit = [Ulimit(name="nofile", soft=256, hard=256)]
    container = ch.run_container(h.wrap(["/bin/true"]), mounts, ulimits=limit)
    why = r"dup3 to fd 500: Bad file descriptor \(is RLIMIT_NOFILE above it\?\)"
    with pytest.raises(LaunchError, match="container entrypoint: " + why):
        h.accept(120, exited=exit_probe(container))
    assert container.wait(timeout=60)["StatusCode"] == 2


def test_a_peer_that_hands_over_no_listener_is_refused(tmp_path: Path) -> None:
    """Whoever reaches the socket can connect; only a seccomp listener is taken."""
    import subprocess
    import sys

    h = prepare(FSYNC, str(tmp_path))
    assert h is not None
    fake = (
        "import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
        "s.sendall(b'FD 0 1'.ljust(128, b'\\0')); s.recv(1)"
    )
    peer = subprocess.Popen([sys.executable, "-c", fake, f"{h.socket_dir}/launcher.sock"])
    try:
        with pytest.raises(LaunchError, match="handed over fd 0: not a seccomp listener"):
            h.accept(60)
    finally:
        h.close()
        assert peer.wait(timeout=30) == 0  # it saw EOF: no ACK was sent


def test_missing_run_dir_is_a_launch_error(tmp_path: Path) -> None:
    with pytest.raises(LaunchError, match="cannot make the container hand-off directory in"):
        prepare(FSYNC, str(tmp_path / "gone"))
