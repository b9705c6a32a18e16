"""The native loop decides exactly like the Python reference loop.

Two levels: the pieces C re-implements (glob matching on code points, surrogateescape
decoding, normpath, the probability draw) against their Python originals on many generated
inputs; and whole scenarios — real targets under real filters, stacked rule sets with
globs, probabilities, ports, delays and traces — run through both loops, comparing the
decision sequences record by record.
"""

from __future__ import annotations

import errno
import os
import posixpath
import random
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from faultbox.intercept import Rule, Supervisor, SyscallRecord, expand_syscalls, launch, native
from faultbox.intercept.globs import compile_glob, glob_matches
from faultbox.intercept.rules import draw

REPO = Path(__file__).resolve().parents[2]
mod = native.load()
pytestmark = pytest.mark.skipif(mod is None, reason=f"no native loop: {native.load_error()}")

WRITE = expand_syscalls("write")
OPEN = expand_syscalls("open")
FSYNC = expand_syscalls("fsync")
NOTIFY = (*WRITE, *OPEN, *FSYNC, "connect", "close", "renameat", "unlinkat", "symlinkat")


# ---- the re-implemented pieces ----------------------------------------------------------

_GLOB_ALPHABET = ["a", "b", "/", "*", "**", "**/", "?", "[", "]", "!", "^", "-", ".", "é", "\\"]
_PATH_ALPHABET = ["a", "b", "/", ".", "-", "[", "]", "!", "é", "\\", "\udcff", "ab/", "x"]


def _c_matches(glob: str, path: str) -> bool:
    program = native.glob_program(glob)
    assert program is not None, f"glob {glob!r} fell back to the regex"
    return bool(mod.glob_match(program, path.encode("utf-8", "surrogateescape")))


@pytest.mark.parametrize(
    "glob",
    [
        "/data/**/*.wal",
        "**",
        "/a/**",
        "**/x",
        "/tmp/*/d?.log",
        "[!]x]",
        "[]x[a]",
        "[a-c]?",
        "a[^/b]c",
        "[!a-]/*",
        "/a/[é-ú]*",
        "/**/",
        "*",
        "",
    ],
)
def test_glob_corners(glob: str) -> None:
    paths = ["/data/x.wal", "/data/a/b/c.wal", "/a", "/a/", "/a/b", "x", "]", "/x", "ax", "/tmp"]
    paths += ["/tmp/q/d1.log", "/a/ü/x", "a-c", "b/", "abc", "a/c", "/", "", "é", "/a/b/"]
    pattern = compile_glob(glob)
    for path in paths:
        assert _c_matches(glob, path) == glob_matches(pattern, path), (glob, path)


def test_glob_fuzz() -> None:
    rng = random.Random(1)
    checked = 0
    for _ in range(3000):
        glob = "".join(rng.choice(_GLOB_ALPHABET) for _ in range(rng.randint(0, 7)))
        pattern = compile_glob(glob)  # every string is a glob: nothing is refused
        for _ in range(20):
            path = "".join(rng.choice(_PATH_ALPHABET) for _ in range(rng.randint(0, 8)))
            assert _c_matches(glob, path) == glob_matches(pattern, path), (glob, path)
            checked += 1
    assert checked > 20000


def test_decode_equals_surrogateescape() -> None:
    rng = random.Random(2)
    pieces = [b"a", b"/", b"\xc3\xa9", b"\xe2\x82\xac", b"\xf0\x9f\x98\x80", b"\xff", b"\x80"]
    pieces += [b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xf8"]
    for _ in range(5000):
        raw = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 10)))
        assert mod.decode(raw) == raw.decode("utf-8", "surrogateescape"), raw


def test_normpath_equals_posixpath() -> None:
    rng = random.Random(3)
    parts = ["/", "//", "///", ".", "..", "a", "b", "é", ""]
    for _ in range(5000):
        path = "".join(rng.choice(parts) for _ in range(rng.randint(0, 8)))
        raw = path.encode()
        assert mod.normpath(raw) == posixpath.normpath(raw), path


def test_draw_is_bit_identical() -> None:
    rng = random.Random(4)
    for _ in range(5000):
        key, n = rng.getrandbits(64), rng.getrandbits(rng.choice((4, 20, 64)))
        assert mod.draw(key, n) == draw(key, n)


# ---- whole scenarios through both loops --------------------------------------------------


def child_env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO))


def _rules(d: Path, port: int) -> list[list[Rule]]:
    """Stacked rule sets touching every decision path."""
    return [
        [
            Rule("w", "deny", WRITE, errno.EIO, probability=0.5, path_glob=f"{d}/**/*.wal"),
            Rule("w2", "deny", WRITE, errno.ENOSPC, probability=0.3, path_glob=f"{d}/*/?.log"),
        ],
        [Rule("s", "delay", FSYNC, delay_ns=1_000_000, probability=0.3, label="slow")],
        [Rule("o", "deny", OPEN, errno.ENOENT, probability=0.7, path_glob="*/?.wal")],
        [Rule("o2", "deny", OPEN, errno.EACCES, probability=0.2)],  # no glob: not system paths
        [Rule("c", "deny", ("connect",), errno.ECONNREFUSED, probability=0.7, dest_ports={port})],
        [Rule("a", "allow", WRITE, path_glob=f"{d}/x[1]*", probability=0.5, op="keep")],
        [Rule("t", "trace", NOTIFY, label="tr", op="all")],
        # cuts the 2-byte pwrite/writev calls (the 1-byte writes are too short: they fall
        # through to the deny rules above, as do the 40 % not drawn)
        [Rule("p", "partial", WRITE, probability=0.6, path_glob=f"{d}/**", label="short")],
    ]


def _scenario(backend: str, seed: int, target: Path, d: Path, port: int) -> tuple[list, list]:
    """Run mix twice (rules change in between) and return (records, hits)."""
    records: list[SyscallRecord] = []
    sup = Supervisor(records.append, seed=seed, backend=backend)
    assert sup.backend == backend
    try:
        handles = [sup.add_rules("svc", rs) for rs in _rules(d, port)]
        for run in range(2):
            if run == 1:  # rule changes between runs: plans are rebuilt
                sup.remove_rules("svc", handles.pop(3))
                handles.append(
                    sup.add_rules("svc", [Rule("x", "deny", WRITE, errno.EPERM, probability=0.4)])
                )
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir()
            proc = launch(
                [str(target), "mix", str(d), str(port)],
                env=child_env(),
                notify=NOTIFY,
                stdout=subprocess.DEVNULL,
            )
            sup.attach("svc", proc)
            assert proc.popen.wait(30) == 0
            proc.close()
        sup.flush()
        hits = [sup.hits(h) for h in handles]
    finally:
        sup.stop()
    return [_key(r) for r in records], hits


def _key(r: SyscallRecord) -> tuple[object, ...]:
    path = re.sub(r"^(pipe|socket|anon_inode):\[?.*", r"\1", r.path)  # inode numbers differ
    return (r.service, r.syscall, path, r.decision, r.label, r.op, r.latency_ms, r.allowed)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_same_decisions_as_python_loop(target: Path, scratch: Path, seed: int) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    try:
        d = scratch / "mix"
        py_records, py_hits = _scenario("python", seed, target, d, port)
        c_records, c_hits = _scenario("native", seed, target, d, port)
    finally:
        listener.close()
    assert len(py_records) > 300
    decisions = {k[3] for k in py_records}
    assert {"allow", "allow (system path)", "trace", "delay(1ms)"} <= decisions
    assert {"deny(input/output error)", "deny(no such file or directory)"} <= decisions
    assert "deny(connection refused)" in decisions
    assert "partial(1 of 2 bytes)" in decisions
    assert any(k[2].startswith(str(d)) and "\udcff" in k[2] for k in py_records)
    for i, (p, c) in enumerate(zip(py_records, c_records, strict=False)):
        assert p == c, f"record {i} differs: python {p} native {c}"
    assert len(py_records) == len(c_records)
    assert py_hits == c_hits


def test_sockaddr_fallback_to_python_decoder(target: Path, scratch: Path) -> None:
    """A non-ASCII AF_UNIX path is decoded by Python (errors="replace"), as the reference."""
    records: list[SyscallRecord] = []
    raw = os.fsencode(str(scratch)) + b"/s\xffk.sock"
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(raw)
    srv.listen(1)
    script = f"import socket; s=socket.socket(socket.AF_UNIX); s.connect({raw!r})"
    sup = Supervisor(records.append, backend="native")
    try:
        proc = launch(
            [sys.executable, "-c", script],
            env=child_env(),
            notify=("connect",),
        )
        sup.attach("svc", proc)
        assert proc.popen.wait(30) == 0
        proc.close()
        sup.flush()
    finally:
        sup.stop()
        srv.close()
    (rec,) = [r for r in records if r.syscall == "connect"]
    assert rec.path == raw.decode(errors="replace")


def test_backend_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(native.ENV, "python")
    sup = Supervisor(lambda r: None)
    assert sup.backend == "python"
    sup.stop()
    monkeypatch.setenv(native.ENV, "native")
    sup = Supervisor(lambda r: None)
    assert sup.backend == "native"
    sup.stop()
    monkeypatch.setenv(native.ENV, "fast")
    with pytest.raises(ValueError, match="FAULTBOX_SUPERVISOR"):
        Supervisor(lambda r: None)


def test_unbuildable_native_loop_falls_back_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(native.ENV, raising=False)
    monkeypatch.setattr(native, "_module", None)
    monkeypatch.setattr(native, "_load_error", "cannot build the native supervisor loop: no gcc")
    with pytest.warns(RuntimeWarning, match="no gcc.*using the Python loop"):
        sup = Supervisor(lambda r: None)
    assert sup.backend == "python"
    sup.stop()
