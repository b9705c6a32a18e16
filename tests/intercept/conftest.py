"""Fixtures: a compiled C target and a harness that launches it under a Supervisor."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from faultbox.intercept import LaunchedProcess, Rule, Supervisor, SyscallRecord, launch
from tests.conftest import compile_c

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


@pytest.fixture(scope="session")
def world() -> Iterator[Path]:
    """A world-readable scratch dir (``--user nobody`` must reach the target and files)."""
    d = Path(tempfile.mkdtemp(prefix="fb-intercept-"))
    d.chmod(0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def target(world: Path) -> Path:
    """tests/intercept/target.c compiled once per session."""
    return compile_c(HERE / "target.c", world / "target", "-pthread")


@pytest.fixture
def scratch(world: Path, request: pytest.FixtureRequest) -> Path:
    """A fresh world-writable directory for one test."""
    d = world / request.node.name.replace("[", "_").replace("]", "_")
    d.mkdir(mode=0o777)
    d.chmod(0o777)
    return d


def child_env() -> dict[str, str]:
    """Environment for targets and helper scripts (faultbox importable)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    return env


class Harness:
    """Launch targets, attach them to one supervisor, collect records, clean up."""

    def __init__(self, target: Path, seed: int = 0, **kwargs: object) -> None:
        self.target = target
        self.records: list[SyscallRecord] = []
        self.sup = Supervisor(self.records.append, seed=seed, **kwargs)  # type: ignore[arg-type]
        self.procs: list[LaunchedProcess] = []

    def rules(self, service: str, *rules: Rule) -> object:
        return self.sup.add_rules(service, rules)

    def start(
        self,
        *args: object,
        notify: Sequence[str] = (),
        service: str = "svc",
        user: str | None = None,
        argv: Sequence[str] | None = None,
    ) -> LaunchedProcess:
        cmd = list(argv) if argv else [str(self.target), *map(str, args)]
        proc = launch(
            cmd,
            env=child_env(),
            notify=notify,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            user=user,
        )
        self.procs.append(proc)
        if proc.listener_fd is not None:
            self.sup.attach(service, proc)
        return proc

    def run(
        self, *args: object, timeout: float = 20, timing: bool = False, **kwargs: object
    ) -> list[str]:
        """Start, wait, and return the target's stdout lines (asserting exit 0).

        Without ``timing`` the target's `` ms=N`` durations are cut (they are noise).
        """
        proc = self.start(*args, **kwargs)  # type: ignore[arg-type]
        out, err = proc.popen.communicate(timeout=timeout)
        assert proc.returncode == 0, (proc.returncode, err.decode())
        text = out.decode() if timing else re.sub(r" ms=\d+", "", out.decode())
        return text.splitlines()

    def of(self, syscall: str | None = None, path: str | None = None) -> list[SyscallRecord]:
        """Records so far (flushed), filtered by syscall name and exact path."""
        self.sup.flush()
        return [
            r
            for r in self.records
            if (syscall is None or r.syscall == syscall) and (path is None or r.path == path)
        ]

    def close(self) -> None:
        for proc in self.procs:
            proc.kill_group()
        self.sup.stop()
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired, ValueError):
                proc.popen.communicate(timeout=5)
            proc.close()


@pytest.fixture
def harness(target: Path, backend: str) -> Iterator[Harness]:
    h = Harness(target, backend=backend)
    assert h.sup.backend == backend
    yield h
    h.close()


@pytest.fixture
def make_harness(target: Path, backend: str) -> Iterator[object]:
    """Factory for harnesses with other seeds/options; all closed at teardown."""
    made: list[Harness] = []

    def make(**kwargs: object) -> Harness:
        made.append(Harness(target, backend=backend, **kwargs))
        return made[-1]

    yield make
    for h in made:
        h.close()


PYTHON = sys.executable
