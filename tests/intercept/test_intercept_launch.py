"""launch(): errors before anything runs, exec failures, users, filters, nesting."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from faultbox.intercept import InterceptUnavailable, LaunchError, Rule, expand_syscalls, launch

WRITE = expand_syscalls("write")
REPO = Path(__file__).resolve().parents[2]


def env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO))


def test_missing_binary() -> None:
    with pytest.raises(LaunchError, match="binary not found: /nonexistent/db"):
        launch(["/nonexistent/db"], env=env())
    with pytest.raises(LaunchError, match="binary not found: no-such-binary-xyz"):
        launch(["no-such-binary-xyz"], env=env(), notify=WRITE)


def test_not_executable(scratch: Path) -> None:
    plain = scratch / "plain.txt"
    plain.write_text("data")
    with pytest.raises(LaunchError, match="not executable: "):
        launch([str(plain)], env=env())
    with pytest.raises(LaunchError, match="not executable: "):
        launch([str(scratch)], env=env())


def test_exec_failure_is_reported(scratch: Path) -> None:
    script = scratch / "bad.sh"
    script.write_text("#!/nonexistent/interpreter\n")
    script.chmod(0o755)
    with pytest.raises(LaunchError, match="exec .*bad.sh: No such file or directory"):
        launch([str(script)], env=env(), notify=WRITE)


def test_unknown_user(target: Path) -> None:
    with pytest.raises(LaunchError, match="unknown user: no-such-user-xyz"):
        launch([str(target), "sleep", "1"], env=env(), user="no-such-user-xyz")


def _seccomp_mode(pid: int) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Seccomp:"):
            return line.split()[1]
    return "?"


def test_no_filter_when_notify_is_empty(target: Path) -> None:
    proc = launch([str(target), "sleep", "2000"], env=env())
    try:
        assert proc.listener_fd is None
        assert _seccomp_mode(proc.pid) == "0"
        assert os.getpgid(proc.pid) == proc.pid  # own session/process group
    finally:
        proc.kill_group()
        proc.wait(5)
        proc.close()
    filtered = launch([str(target), "sleep", "2000"], env=env(), notify=("fsync",))
    try:
        assert filtered.listener_fd is not None and _seccomp_mode(filtered.pid) == "2"
    finally:
        filtered.kill_group()
        filtered.wait(5)
        filtered.close()


def test_user_nobody_is_filtered(harness, scratch: Path) -> None:
    path = scratch / "nobody.log"
    harness.rules(
        "svc",
        Rule(key="write", action="deny", syscalls=WRITE, errno=errno.EIO, path_glob=str(path)),
    )
    lines = harness.run("uid", path, notify=WRITE, user="nobody")
    assert lines == ["uid 65534 gid 65534", f"write -1 errno={errno.EIO}"]
    (rec,) = harness.of("write", str(path))
    assert rec.decision == "deny(input/output error)"


def test_nested_supervisor_is_a_clear_error(harness, target: Path) -> None:
    """A faultbox running under another notify filter gets EBUSY (pitfall 8)."""
    script = textwrap.dedent(
        f"""
        import os
        from faultbox.intercept import InterceptUnavailable, launch
        try:
            launch([{str(target)!r}, "sleep", "1"], env=dict(os.environ), notify=("fsync",))
        except InterceptUnavailable as e:
            print("UNAVAILABLE", e)
        """
    )
    lines = harness.run(argv=[sys.executable, "-c", script], notify=("fsync",))
    assert lines and lines[0].startswith("UNAVAILABLE seccomp: EBUSY")


def test_intercept_unavailable_without_compiler(monkeypatch, tmp_path: Path) -> None:
    from faultbox.intercept import _build

    monkeypatch.setenv("CC", "")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InterceptUnavailable, match="no C compiler"):
        _build.compile_launcher(tmp_path / "launcher")


def test_stdout_pipe_and_wait(target: Path, scratch: Path) -> None:
    proc = launch(
        [str(target), "write", str(scratch / "w"), "1"], env=env(), stdout=subprocess.PIPE
    )
    out, _ = proc.popen.communicate(timeout=10)
    assert proc.returncode == 0 and proc.poll() == 0 and out.startswith(b"write 5")
    proc.close()


def test_notified_execve_does_not_deadlock_the_launch(harness, target: Path) -> None:
    """The launcher's own execve is notified: launch() returns after the hand-off instead
    of waiting for the exec outcome, and the supervisor answers the execve."""
    harness.rules("svc", Rule(key="execve", action="trace", syscalls=("execve",)))
    lines = harness.run("uid", "/dev/null", notify=("execve", "write"))
    assert lines[0].startswith("uid 0")
    (rec,) = harness.of("execve")
    assert (rec.path, rec.decision) == (str(target), "trace")
