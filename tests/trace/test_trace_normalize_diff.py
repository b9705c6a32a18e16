from __future__ import annotations

from tracekit import TraceBuilder, make_result, order_trace

from faultbox.trace.diff import diff_traces
from faultbox.trace.normalize import normalize, normalize_path
from faultbox.trace.results import SuiteResult


def test_normalize_path() -> None:
    assert normalize_path("socket:[12345]") == "socket"
    assert normalize_path("pipe:[9]") == "pipe"
    assert normalize_path("anon_inode:[77]") == "anon_inode"
    assert normalize_path("anon_inode:[eventfd]") == "anon_inode:[eventfd]"
    assert normalize_path("/proc/4242/task/4243/stat") == "/proc/{pid}/task/{tid}/stat"
    assert normalize_path("/tmp/inventory.wal") == "/tmp/inventory.wal"
    assert normalize_path("/tmp/faultbox-k3j9x2ab/postgres/data") == "{tmpdir}/postgres/data"


def golden_builder(pipe_path: str) -> TraceBuilder:
    b = TraceBuilder()
    b.start("orders")
    b.emit("service_started", "inventory")
    b.syscall("inventory", "write", "allow", path=pipe_path)
    b.emit("service_ready", "inventory")
    b.emit("fault_applied", "inventory", write="deny(ENOSPC) → filter:[write]")
    b.step("orders")
    b.syscall(
        "inventory",
        "write",
        "deny(no space left on device)",
        path="socket:[4711]",
        label="disk full",
    )
    b.syscall("inventory", "write", "allow (system path)", path="/etc/hosts")
    b.syscall("inventory", "fsync", "allow")
    b.emit("trace_applied", "inventory", fsync="trace → filter:[fsync]")
    b.emit("partition_applied", "", between="a,b")
    b.emit("fault_removed", "inventory")
    b.emit("service_exited", "inventory", exit_code="-15", signal="SIGTERM", expected="true")
    return b


GOLDEN = """\
=== test_disk_full ===
--- inventory ---
service_started
service_ready
fault_applied
write deny(no space left on device) socket
fault_removed
--- orders ---
service_started
service_ready
--- test ---
step_send orders
step_recv orders
"""


def test_normalize_golden_and_tty_independent() -> None:
    for path in ("pipe:[123]", "/dev/pts/4", "/dev/null"):
        r = make_result("test_disk_full", events=golden_builder(path).events())
        assert normalize(SuiteResult("x.star", [r], 1)) == GOLDEN


def test_normalize_byte_identical_across_runs() -> None:
    a = normalize(SuiteResult("s", [make_result(events=order_trace().events())], 1))
    b2 = order_trace()
    b2.t += 10**12  # different timestamps, same behaviour
    b = normalize(SuiteResult("s", [make_result(events=b2.events())], 1))
    assert a == b
    assert "write delay(100ms) /tmp/inventory.wal" in a
    assert "write delay(100ms) socket" in a
    assert "openat allow /tmp/inventory.wal" in a
    assert "connect" not in a  # allowed connect on a socket
    assert "slow WAL" not in a and "4242" not in a and "+100" not in a


def test_normalize_unexpected_exit_kept() -> None:
    b = TraceBuilder()
    b.emit("service_exited", "db", exit_code="2", expected="false")
    assert normalize(SuiteResult("s", [make_result("t", events=b.events())], 1)) == (
        "=== t ===\n--- db ---\nservice_exited 2\n"
    )


def test_normalize_empty_suite() -> None:
    assert normalize(SuiteResult("s", [], 0)) == ""


def test_diff_identical() -> None:
    assert diff_traces("a\nb\n", "a\nb") == (True, "traces are identical")
    assert diff_traces("a\r\nb\r\n", "a\nb\n")[0] is True
    assert diff_traces("", "")[0] is True
    assert diff_traces("", "a") == (False, "traces differ (0 vs 1 lines):\n  line 1:\n    + a")


def test_diff_single_insertion_is_one_plus_line() -> None:
    a = [f"line{i}" for i in range(1, 13)]
    b = a[:8] + ["write allow /tmp/inventory.wal"] + a[8:]
    same, out = diff_traces("\n".join(a), "\n".join(b))
    assert not same
    assert out.splitlines() == [
        "traces differ (12 vs 13 lines):",
        "  line 8:  line8  (same in both)",
        "  line 9:",
        "    + write allow /tmp/inventory.wal",
    ]


def test_diff_duplicate_write_and_shifted_numbers() -> None:
    a = ["x", "w", "fsync", "y", "z"]
    b = ["x", "w", "w", "fsync", "y", "Z"]
    _, out = diff_traces("\n".join(a), "\n".join(b))
    lines = out.splitlines()
    assert lines[0] == "traces differ (5 vs 6 lines):"
    assert sum(1 for ln in lines if ln.startswith("    +")) == 2
    assert sum(1 for ln in lines if ln.startswith("    -")) == 1
    assert "  line 5 (b: 6):" in lines
    assert "    - z" in lines and "    + Z" in lines


def test_diff_deletion_and_color() -> None:
    same, out = diff_traces("a\nb\nc", "a\nc", color=True)
    assert not same
    assert out.splitlines()[0] == "\033[33mtraces differ (3 vs 2 lines):\033[0m"
    assert "\033[31m    - b\033[0m" in out
    _, plain = diff_traces("a\nb\nc", "a\nc")
    assert "\033" not in plain
    assert plain.splitlines()[1:] == ["  line 1:  a  (same in both)", "  line 2:", "    - b"]


def test_diff_first_line_changed_has_no_context() -> None:
    _, out = diff_traces("a\nb", "A\nb")
    assert out.splitlines()[1:] == ["  line 1:", "    - a", "    + A"]
