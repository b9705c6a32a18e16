"""Syscall faults inside a container through `faultbox test`: an op with a path glob in the
container's terms, a trace of it, and the whole process tree (busybox httpd forks a shell
per CGI request). The image is the busybox one of intercept_harness.py."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, run_faultbox
from tests.containers.intercept_harness import busybox_image, docker_client

# The CGI script appends the query to a WAL segment and says whether the write worked.
CGI = """#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
if echo "$QUERY_STRING" >> /data/wal/seg.wal; then echo stored; else echo failed; fi
"""

SPEC = """
box = service("box",
    interface("http", "http", {port}),
    image = "{image}",
    args = ["httpd", "-f", "-p", "127.0.0.1:{port}", "-h", "/www"],
    volumes = {{"www": "/www:ro", "wal": "/data/wal"}},
    healthcheck = http("localhost:{port}/index.html"),
    ops = {{"wal_append": op(syscalls = ["write"], path = "/data/wal/*.wal")}},
)

def append():
    return box.http.get(path = "/cgi-bin/append?order1")

def test_op_denied_inside_the_container():
    r = fault(box, wal_append = deny("EIO", label = "disk"), run = append)
    assert_eq(r.body.strip(), "failed")
    assert_eventually(service = "box", syscall = "write", decision = "deny*",
                      path = "/data/wal/seg.wal")
    r = append()  # the fault is over
    assert_eq(r.body.strip(), "stored")

def test_trace_of_the_op_has_container_paths():
    trace(box, syscalls = ["wal_append"], run = append)
    assert_eventually(service = "box", syscall = "write", path = "/data/wal/*.wal",
                      decision = "trace")
    assert_never(service = "box", path = "{host}*")
"""


@pytest.fixture(scope="module")
def image() -> str:
    client: Any = docker_client()
    return busybox_image(client)


def test_spec_faults_and_traces_inside_a_container(tmp_path: Path, image: str) -> None:
    (tmp_path / "www" / "cgi-bin").mkdir(parents=True)
    (tmp_path / "www" / "index.html").write_text("ok\n")
    cgi = tmp_path / "www" / "cgi-bin" / "append"
    cgi.write_text(CGI)
    cgi.chmod(0o755)
    (tmp_path / "wal").mkdir(mode=0o777)
    (tmp_path / "wal").chmod(0o777)
    spec = tmp_path / "box.star"
    spec.write_text(textwrap.dedent(SPEC).format(port=free_port(), image=image, host=tmp_path))
    out = tmp_path / "results.json"
    proc = run_faultbox("test", str(spec), "--output", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads(out.read_text())
    tests = {t["name"]: t for t in results["tests"]}
    assert set(tests) == {
        "test_op_denied_inside_the_container",
        "test_trace_of_the_op_has_container_paths",
    }
    assert all(t["result"] == "pass" for t in tests.values()), tests
    # on the host the segment has the second (unfaulted) append only
    assert (tmp_path / "wal" / "seg.wal").read_text() == "order1\n" * 2
