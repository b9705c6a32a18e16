"""One function per measured configuration; each runs the target once and returns µs/call.

The target times its own loop of N one-byte writes (clock_gettime around the loop), so
process start-up, the launcher hand-off and supervisor set-up are not in the figure.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from faultbox.intercept import Rule, Supervisor, SyscallRecord, expand_syscalls, launch

WRITE = expand_syscalls("write")
HERE = Path(__file__).resolve().parent


@dataclass
class Build:
    """Paths of the compiled helpers and the scratch directory."""

    target: Path
    floor: Path
    scratch: Path

    @property
    def data(self) -> Path:
        return self.scratch / "data.bin"


def compile_helpers(scratch: Path) -> Build:
    """Compile target.c and floor.c with the project's C flags."""
    out = Build(scratch / "target", scratch / "floor", scratch)
    for src, dest in (("target.c", out.target), ("floor.c", out.floor)):
        subprocess.run(
            ["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(dest), str(HERE / src)],
            check=True,
        )
    return out


def _parse(stdout: bytes, n: int, expect_ok: int | None) -> float:
    """µs per call from the target's line; checks how many writes succeeded."""
    fields = stdout.decode().split()
    if len(fields) != 4 or fields[0] != "ns_per_call":
        raise RuntimeError(f"unexpected target output: {stdout!r}")
    ok = int(fields[3])
    if expect_ok is not None and ok != expect_ok:
        raise RuntimeError(f"{ok} of {n} writes succeeded, expected {expect_ok}")
    return float(fields[1]) / 1000.0


def _env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def _argv(b: Build, n: int) -> list[str]:
    return [str(b.target), str(n), str(b.data)]


def no_filter(b: Build, n: int) -> float:
    """(a) the launcher without a filter."""
    proc = launch(_argv(b, n), env=_env(), stdout=subprocess.PIPE)
    out, _ = proc.popen.communicate()
    proc.close()
    return _parse(out, n, n)


def filter_not_notified(b: Build, n: int) -> float:
    """(b) a filter whose notify set is fsync: every write runs the BPF program and passes."""
    proc = launch(_argv(b, n), env=_env(), notify=("fsync",), stdout=subprocess.PIPE)
    out, _ = proc.popen.communicate()
    proc.close()  # also closes the listener (nothing was notified)
    return _parse(out, n, n)


class _Counter:
    """A sink that looks at every record, as the runtime's does (and checks decisions)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.decisions: dict[str, int] = {}

    def __call__(self, rec: SyscallRecord) -> None:
        if rec.path == self.path:
            self.decisions[rec.decision] = self.decisions.get(rec.decision, 0) + 1


def _supervised(b: Build, n: int, backend: str, glob: str, expect_ok: int, decision: str) -> float:
    sink = _Counter(str(b.data))
    # The supervisor's one configuration, as faultbox's sessions run it (buffered, 5 ms flush).
    sup = Supervisor(sink, seed=1, backend=backend)
    if sup.backend != backend:
        raise RuntimeError(f"asked for the {backend} loop, got {sup.backend}")
    rule = Rule(key="write", action="deny", syscalls=WRITE, errno=errno.EIO, path_glob=glob)
    sup.add_rules("bench", [rule])
    proc = launch(_argv(b, n), env=_env(), notify=WRITE, stdout=subprocess.PIPE)
    sup.attach("bench", proc)
    out, _ = proc.popen.communicate()
    sup.stop()
    proc.close()
    if sink.decisions != {decision: n}:
        raise RuntimeError(f"records for the data file: {sink.decisions}, expected {n} {decision}")
    return _parse(out, n, expect_ok)


def allowed(backend: str) -> Callable[[Build, int], float]:
    """(c) notified, path resolved, glob not matching → allow, recorded."""

    def run(b: Build, n: int) -> float:
        return _supervised(b, n, backend, "/nonexistent/**/*.wal", n, "allow")

    return run


def denied(backend: str) -> Callable[[Build, int], float]:
    """(d) notified, glob matching → EIO, recorded."""

    def run(b: Build, n: int) -> float:
        glob = f"{b.scratch}/*.bin"
        return _supervised(b, n, backend, glob, 0, "deny(input/output error)")

    return run


def floor(sync: bool, name_path: bool = False) -> Callable[[Build, int], float]:
    """(e) the same launcher and filter, answered by floor.c (poll → recv → CONTINUE).

    ``sync``: with SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, as faultbox sets it. ``name_path``:
    plus readlinkat + ID_VALID, the least naming the file costs.
    """

    def run(b: Build, n: int) -> float:
        return _floor(b, n, "sync" if sync else "nosync", "path" if name_path else "")

    return run


def _floor(b: Build, n: int, mode: str, extra: str) -> float:
    proc = launch(_argv(b, n), env=_env(), notify=WRITE, stdout=subprocess.PIPE)
    listener = proc.take_listener()
    assert listener is not None
    cmd = [str(b.floor), str(listener), mode, "poll", extra]
    sup = subprocess.Popen(cmd, pass_fds=(listener,), stderr=subprocess.DEVNULL)
    os.close(listener)  # the floor holds the only copy: its exit ends the filter's supervisor
    out, _ = proc.popen.communicate()
    sup.wait(10)
    proc.close()
    return _parse(out, n, n)


def strace_inject(b: Build, n: int) -> float:
    """(f) strace -f -e inject=write:error=EIO (ptrace), its trace discarded."""
    strace = shutil.which("strace")
    if strace is None:
        raise RuntimeError("strace not installed (apt-get install strace)")
    cmd = [strace, "-f", "-qq", "-o", "/dev/null", "-e", "inject=write:error=EIO", *_argv(b, n)]
    proc = subprocess.run(cmd, env=_env(), stdout=subprocess.PIPE, check=True)
    return _parse(proc.stdout, n, 0)
