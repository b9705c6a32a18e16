"""Supervisor safety: no event dropped, no syscall left unanswered or unfaulted, no crash.

Most tests run with both loops (the ``harness``/``backend`` fixtures); the native loop's own
safeguards (event ring, allocation failures, shared constants) are tested on it directly.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from faultbox.intercept import (
    InterceptUnavailable,
    Rule,
    Supervisor,
    bpf,
    expand_syscalls,
    native,
    spawn,
)
from faultbox.intercept.syscalls import AUDIT_ARCH, syscall_number

WRITE = expand_syscalls("write")
REPO = Path(__file__).resolve().parents[2]
mod = native.load()
needs_native = pytest.mark.skipif(mod is None, reason=f"no native loop: {native.load_error()}")


def _also_notify(monkeypatch: pytest.MonkeyPatch, *numbers: int) -> None:
    """Launch with these syscall numbers in the filter too, beyond the notify set (so the
    supervisor has compiled no plan for them)."""
    original = spawn._filter_for
    monkeypatch.setattr(
        spawn, "_filter_for", lambda nrs, arch, hfd: original([*nrs, *numbers], arch, hfd)
    )


# ---- x32 ---------------------------------------------------------------------------------


def test_bpf_gives_x32_numbers_enosys() -> None:
    x86, arm = AUDIT_ARCH["x86_64"], AUDIT_ARCH["aarch64"]
    prog = bpf.build_filter([1, 257], x86)
    enosys = bpf.SECCOMP_RET_ERRNO | errno.ENOSYS
    assert bpf.run_filter(prog, 1, x86) == bpf.SECCOMP_RET_USER_NOTIF
    assert bpf.run_filter(prog, bpf.X32_SYSCALL_BIT | 1, x86) == enosys  # x32 write
    assert bpf.run_filter(prog, bpf.X32_SYSCALL_BIT | 516, x86) == enosys  # x32 writev
    assert bpf.run_filter(prog, -1, x86) == enosys
    assert bpf.run_filter(prog, 0, x86) == bpf.SECCOMP_RET_ALLOW
    # aarch64 has no x32 ABI: its program has no such check
    assert bpf.run_filter(bpf.build_filter([64], arm), bpf.X32_SYSCALL_BIT | 64, arm) == (
        bpf.SECCOMP_RET_ALLOW
    )


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="x32 is an x86_64 ABI")
def test_x32_write_does_not_pass_a_write_rule(harness, scratch: Path) -> None:
    path = scratch / "x32.out"
    harness.rules("svc", Rule("write", "deny", WRITE, errno.EIO, path_glob=str(path)))
    assert harness.run("x32write", path, notify=WRITE) == ["x32write -1 errno=38"]
    assert path.read_bytes() == b""


# ---- syscalls the supervisor has no plan for ------------------------------------------


def test_syscall_without_a_compiled_plan_is_decided(harness, monkeypatch) -> None:
    """A notified number outside the notify set (no plan compiled at attach) is decided by
    the same rules: the native loop hands it to Python once, which compiles its plan."""
    uname = syscall_number("uname")
    assert uname is not None
    _also_notify(monkeypatch, uname)
    harness.rules("svc", Rule("uname", "deny", ("uname",), errno.EPERM, label="no-plan"))
    assert harness.run("syscall", uname, notify=WRITE) == ["syscall -1 errno=1"]
    (rec,) = harness.of("uname")
    assert (rec.decision, rec.label, rec.allowed) == (
        "deny(operation not permitted)",
        "no-plan",
        False,
    )
    assert harness.sup.failure is None


def test_out_of_range_syscall_number_is_answered(harness, monkeypatch) -> None:
    """A number beyond every table (no plan can exist) is answered CONTINUE and recorded,
    not handed back to the loop again (which looped forever: the target hung)."""
    _also_notify(monkeypatch, 2000)
    assert harness.run("syscall", 2000, notify=WRITE) == ["syscall -1 errno=38"]
    (rec,) = harness.of("syscall_2000")
    assert (rec.decision, rec.allowed) == ("allow", True)
    assert harness.sup.failure is None


# ---- the record buffer -------------------------------------------------------------------


def test_record_buffer_overflow_holds_the_target_and_loses_nothing(
    target: Path, scratch: Path, backend: str
) -> None:
    """While the sink is stuck, the loop buffers up to its cap (65536), then waits for
    delivery (the target waits with it); afterwards every record arrives once, in order."""
    n = native.BUFFER_CAP + 4000
    path = scratch / "many"
    release = threading.Event()
    records: list[tuple[str, str, int]] = []

    def sink(rec) -> None:  # noqa: ANN001
        release.wait(120)
        records.append((rec.syscall, rec.path, rec.timestamp_ns))

    sup = Supervisor(sink, backend=backend)
    sup.add_rules("svc", [Rule("write", "trace", WRITE, path_glob=str(path))])
    proc = spawn.launch([str(target), "write", str(path), str(n)], env=dict(os.environ),
                        notify=WRITE, stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        sup.attach("svc", proc)
        deadline = time.monotonic() + 120
        while sup.notifications < native.BUFFER_CAP and time.monotonic() < deadline:
            time.sleep(0.01)  # polling a condition (not synchronising on time)
        assert sup.notifications >= native.BUFFER_CAP
        assert proc.poll() is None  # held: its next write waits for delivery
        release.set()
        assert proc.popen.wait(120) == 0
        sup.flush()
    finally:
        release.set()
        proc.kill_group()
        sup.stop()
        proc.close()
    writes = [r for r in records if r[1] == str(path)]
    assert len(writes) == n
    stamps = [r[2] for r in records]
    assert stamps == sorted(stamps)
    assert sup.failure is None


# ---- native loop safeguards --------------------------------------------------------------


@needs_native
def test_event_ring_full_defers_instead_of_dropping(target: Path, scratch: Path) -> None:
    """With room for one event per run(), delays of four services arriving together must
    all be answered: the loop stops receiving while the ring is full (a dropped delay event
    would leave a target hung; an overflow would be a failure)."""
    records: list[str] = []
    sup = Supervisor(lambda r: records.append(r.decision), backend="native")
    assert sup._native is not None
    sup._native.loop.set_event_cap(1)
    procs = []
    try:
        for i in range(4):
            path = scratch / f"d{i}"
            sup.add_rules(f"s{i}", [Rule("write", "delay", WRITE, delay_ns=1_000_000,
                                         path_glob=str(path))])  # fmt: skip
            proc = spawn.launch([str(target), "write", str(path), "50"], env=dict(os.environ),
                                notify=WRITE, stdout=subprocess.DEVNULL)  # fmt: skip
            procs.append(proc)
        for i, proc in enumerate(procs):
            sup.attach(f"s{i}", proc)
        for proc in procs:
            assert proc.popen.wait(120) == 0
        sup.flush()
    finally:
        for proc in procs:
            proc.kill_group()
        sup.stop()
        for proc in procs:
            proc.close()
    assert sup.failure is None
    assert records.count("delay(1ms)") == 200


@needs_native
def test_allocation_failures_are_memory_errors_not_crashes() -> None:
    """Every allocation of the extension fails once in turn: each is a MemoryError (or the
    call succeeds), and the process survives (a crash would fail this subprocess)."""
    script = textwrap.dedent(
        """
        from array import array
        from faultbox.intercept import native
        from faultbox.intercept.paths import decode_sockaddr
        mod = native.load()
        program = native.glob_program("/data/*.wal")
        errors = 0
        for n in range(60):
            mod._fail_alloc_after(n)
            try:
                hits = array("q", [0])
                rule = mod.Rule(1, 1, -5, 0, 0.5, program, None, (80,), hits, 0)
                loop = mod.Loop(decode_sockaddr)
                loop.set_plans(0, {1: (1, ((rule, 7),)), 18: (1, ((rule, 9),))}, True)
                loop.set_plans(3, {1: (1, ((rule, 7),))}, False)
                mod.glob_match(program, b"/data/x.wal")
                mod.decode(b"/data/x")
            except MemoryError:
                errors += 1
            finally:
                mod._fail_alloc_after(-1)
        print(errors)
        """
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) >= 8  # every allocation site above was hit once


@needs_native
def test_constants_are_checked_when_the_extension_loads(monkeypatch) -> None:
    assert mod is not None
    native.check_constants(mod.CONSTANTS)
    with pytest.raises(InterceptUnavailable, match="ACT_DELAY: C 2, Python 5"):
        wrong = dict(native.python_constants(), ACT_DELAY=5)
        monkeypatch.setattr(native, "python_constants", lambda: wrong)
        native.check_constants(mod.CONSTANTS)
    # a mismatch at load disables the native loop, with the reason in the warning
    monkeypatch.setattr(native, "_module", None)
    monkeypatch.setattr(native, "_load_error", None)
    monkeypatch.delenv(native.ENV, raising=False)
    with pytest.warns(RuntimeWarning, match="constants differ"):
        sup = Supervisor(lambda r: None)
    assert sup.backend == "python"
    sup.stop()
