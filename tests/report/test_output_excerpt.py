"""Which lines of a service's output a failure shows (faultbox/report/output_excerpt.py)."""

from __future__ import annotations

from faultbox.report.output_excerpt import excerpt, is_telling


def noise(n: int, start: int = 0) -> list[str]:
    return [f"request {i} ok" for i in range(start, start + n)]


def test_short_output_is_shown_whole() -> None:
    lines = noise(7)
    assert excerpt(lines) == lines


def test_long_output_without_errors_keeps_the_last_lines_and_marks_the_rest() -> None:
    lines = noise(30)
    assert excerpt(lines) == ["… 20 lines elided …", *lines[20:]]


def test_a_panic_before_the_last_lines_is_kept_with_what_follows() -> None:
    lines = [
        *noise(5),
        "panic: runtime error: index out of range [3] with length 3",
        "",
        "goroutine 7 [running]:",
        "main.handler(...)",
        "\t/src/main.go:42 +0x1d",
        "\t/src/main.go:43 +0x2e",
        *noise(30, 5),
    ]
    out = excerpt(lines)
    assert out[:7] == [
        "… 5 lines elided …",
        "panic: runtime error: index out of range [3] with length 3",
        "",
        "goroutine 7 [running]:",
        "main.handler(...)",
        "\t/src/main.go:42 +0x1d",
        "… 21 lines elided …",
    ]
    assert out[7:] == lines[-10:]


def test_a_traceback_is_kept_up_to_its_exception() -> None:
    tb = [
        "Traceback (most recent call last):",
        '  File "/srv/app.py", line 10, in <module>',
        "    main()",
        '  File "/srv/app.py", line 7, in main',
        "    raise RuntimeError('disk is gone')",
        "RuntimeError: disk is gone",
    ]
    lines = [*noise(3), *tb, *noise(20, 3)]
    out = excerpt(lines)
    assert out == ["… 3 lines elided …", *tb, "… 10 lines elided …", *lines[-10:]]


def test_chained_tracebacks_belong_together() -> None:
    tb = [
        "Traceback (most recent call last):",
        '  File "a.py", line 1, in <module>',
        "OSError: [Errno 5] Input/output error",
        "",
        "During handling of the above exception, another exception occurred:",
        "",
        "Traceback (most recent call last):",
        '  File "a.py", line 3, in <module>',
        "SystemExit: 1",
    ]
    out = excerpt([*tb, *noise(15)])
    assert out[: len(tb)] == tb
    assert out[len(tb)] == "… 5 lines elided …"


def test_severity_words_and_levels() -> None:
    assert is_telling("2026-12-01 10:00:00 FATAL:  could not write to file")
    assert is_telling("PANIC:  could not fsync")
    assert is_telling("ERROR writing WAL: input/output error")
    assert is_telling('{"level":"error","msg":"write failed"}')
    assert is_telling("ts=1 level=fatal msg=boom")
    assert is_telling("fatal error: all goroutines are asleep - deadlock!")
    assert not is_telling("no errors so far")
    assert not is_telling("request 3 ok")


def test_many_errors_keep_the_first_ones() -> None:
    lines = [f"ERROR attempt {i}" for i in range(100)]
    out = excerpt(lines)
    picked = [ln for ln in out if ln.startswith("ERROR")]
    assert picked[:3] == ["ERROR attempt 0", "ERROR attempt 1", "ERROR attempt 2"]
    assert picked[-10:] == lines[-10:]
    assert len(out) == 40 + 1 + 10  # 40 picked, one elision marker, the last 10 lines


def test_a_single_line_is_shown_rather_than_marked() -> None:
    lines = ["starting", "FATAL: cannot open WAL", *noise(5), *noise(11, 100)]
    out = excerpt(lines)
    # the first line is shown (a marker would replace it and save nothing)
    assert out[:2] == ["starting", "FATAL: cannot open WAL"]
    assert out[5:7] == ["request 3 ok", "… 2 lines elided …"]
    assert out[7:] == lines[-10:]
