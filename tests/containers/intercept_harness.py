"""Containers under a Supervisor for tests/containers/test_container_intercept*.py.

A tiny image made without a registry (Debian's static busybox, ``docker import``ed), the
static test target ct_target.c bind-mounted in, the hand-off of container_handoff.py, and
cleanup of every container, hand-off and supervisor a test made.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from faultbox.intercept import Rule, Supervisor, SyscallRecord
from faultbox.intercept.container_handoff import (
    ContainerHandoff,
    InterceptedContainerProcess,
    prepare,
)

HERE = Path(__file__).resolve().parent
BUSYBOX = Path("/bin/busybox")
IMAGE_REPO, IMAGE_TAG = "faultbox-test/busybox", "seccomp"
IMAGE = f"{IMAGE_REPO}:{IMAGE_TAG}"
TARGET_IN_CONTAINER = "/.fbtest/ct_target"
_APPLETS = ("sh", "echo", "printf", "sleep", "cat", "sync", "mkdir", "true", "readlink", "httpd")


def docker_client() -> Any:
    """A client of a Docker engine that answers, else skip (with the reason printed)."""
    try:
        import docker  # local import: optional test dependency, skip cleanly without it
    except ImportError:
        pytest.skip("the docker SDK is not installed (pip install docker)")
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as e:  # any failure to reach the engine means: skip
        status = Path(os.environ.get("FAULTBOX_DOCKER_STATUS", "/tmp/faultbox-docker-status"))
        why = status.read_text().strip() if status.exists() else str(e)
        print(f"SKIP containers: no Docker engine answers ({why})")
        pytest.skip(f"no Docker engine answers: {why}")
    return client


def _is_static(path: Path) -> bool:
    out = subprocess.run(["file", "-L", str(path)], capture_output=True, text=True).stdout
    return "statically linked" in out


def busybox_image(client: Any) -> str:
    """The busybox image, imported from /bin/busybox (busybox-static) unless up to date."""
    if not BUSYBOX.exists() or not _is_static(BUSYBOX):
        print("SKIP containers: no static /bin/busybox (apt-get install busybox-static)")
        pytest.skip("no static /bin/busybox (apt-get install busybox-static)")
    digest = hashlib.sha256(BUSYBOX.read_bytes() + repr(_APPLETS).encode()).hexdigest()[:16]
    with contextlib.suppress(Exception):
        if client.images.get(IMAGE).labels.get("faultbox.content-hash") == digest:
            return IMAGE
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(str(BUSYBOX), arcname="bin/busybox")
        for name in _APPLETS:
            link = tarfile.TarInfo(f"bin/{name}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        for d in ("tmp", "data"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777
            tar.addfile(info)
    client.api.import_image_from_data(
        buf.getvalue(),
        repository=IMAGE_REPO,
        tag=IMAGE_TAG,
        changes=["ENV PATH=/bin", f"LABEL faultbox.content-hash={digest}"],
    )
    return IMAGE


def build_target(out_dir: Path) -> Path:
    """ct_target.c linked statically (it runs on the busybox image, which has no libc)."""
    if not shutil.which("gcc"):
        pytest.skip("gcc is needed to build the container test target")
    out = out_dir / "ct_target"
    subprocess.run(
        ["gcc", "-O2", "-static", "-o", str(out), str(HERE / "ct_target.c")],
        check=True,
        capture_output=True,
    )
    return out


def bind(source: str, target: str, mode: str = "ro") -> Any:
    """A docker bind mount."""
    from docker.types import Mount  # local import: optional test dependency

    return Mount(target=target, source=source, type="bind", read_only=mode == "ro")


class Started:
    """One container of a test, with its hand-off and intercepted process."""

    def __init__(self, container: Any, proc: InterceptedContainerProcess) -> None:
        self.container = container
        self.proc = proc

    def wait(self, timeout: float = 60) -> tuple[int, str]:
        """Exit status and the combined output."""
        status = self.container.wait(timeout=timeout)
        return int(status["StatusCode"]), self.container.logs().decode(errors="replace")


class ContainerHarness:
    """Start wrapped containers, attach them to one supervisor, collect records, clean up."""

    def __init__(self, client: Any, image: str, target: Path, backend: str) -> None:
        self.client, self.image, self.target = client, image, target
        self.records: list[SyscallRecord] = []
        self.sup = Supervisor(self.records.append, backend=backend)
        self.run_dir = tempfile.mkdtemp(prefix="fb-ct-run-")
        self.containers: list[Any] = []
        self.handoffs: list[ContainerHandoff] = []
        self.procs: list[InterceptedContainerProcess] = []

    def rules(self, service: str, *rules: Rule) -> object:
        return self.sup.add_rules(service, rules)

    def handoff(self, notify: Sequence[str]) -> ContainerHandoff:
        h = prepare(notify, self.run_dir)
        assert h is not None
        self.handoffs.append(h)
        return h

    def run_container(
        self, entrypoint: Sequence[str], mounts: Sequence[Any] = (), **kwargs: Any
    ) -> Any:
        """Start a container (host network, the target mounted in); kept for cleanup."""
        container = self.client.containers.create(
            self.image,
            entrypoint=list(entrypoint),
            network_mode="host",
            mounts=[bind(str(self.target), TARGET_IN_CONTAINER), *mounts],
            **kwargs,
        )
        self.containers.append(container)
        container.start()
        return container

    def start(
        self,
        argv: Sequence[str],
        notify: Sequence[str],
        *,
        service: str = "svc",
        volumes: Sequence[tuple[str, str]] = (),
        timeout: float = 60,
        **kwargs: Any,
    ) -> Started:
        """Wrap ``argv``, start the container, take its listener and attach it."""
        h = self.handoff(notify)
        mounts = [bind(src, dst, mode) for src, dst, mode in h.mounts]
        mounts += [bind(src, dst, "rw") for src, dst in volumes]
        container = self.run_container(h.wrap(argv), mounts, **kwargs)
        proc = h.accept(timeout, exited=exit_probe(container))
        self.procs.append(proc)
        self.sup.attach(service, proc)
        h.close()
        return Started(container, proc)

    def of(self, syscall: str | None = None, path: str | None = None) -> list[SyscallRecord]:
        """Records so far (flushed), by syscall name and exact path."""
        self.sup.flush()
        return [
            r
            for r in self.records
            if (syscall is None or r.syscall == syscall) and (path is None or r.path == path)
        ]

    def close(self) -> None:
        for container in self.containers:
            with contextlib.suppress(Exception):
                container.remove(force=True)
        self.sup.stop()
        for proc in self.procs:
            proc.close()
        for h in self.handoffs:
            h.close()
        leftover = os.listdir(self.run_dir)
        shutil.rmtree(self.run_dir, ignore_errors=True)
        assert leftover == [], f"hand-off left {leftover} behind"


def exit_probe(container: Any) -> Any:
    """``accept(exited=…)``: None while the container runs, else how it ended."""

    def probe() -> str | None:
        container.reload()
        if container.status in ("created", "running"):
            return None
        return f"{container.status}, exit code {container.attrs['State']['ExitCode']}"

    return probe


@contextlib.contextmanager
def harness_for(client: Any, image: str, target: Path, backend: str) -> Iterator[ContainerHarness]:
    h = ContainerHarness(client, image, target, backend)
    try:
        yield h
    finally:
        h.close()
