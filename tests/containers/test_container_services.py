"""Container services' declarations and lifecycle: load errors, build=, volumes=, args=, env,
stdout events, exit status. Real engine, real containers (images from tests/containers.sh)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import free_port, run_faultbox
from tests.containers.fb_containers import labelled_containers


def _write(tmp_path: Path, text: str) -> Path:
    spec = tmp_path / "spec.star"
    spec.write_text(text)
    return spec


def test_no_engine_is_a_load_error_at_the_service_line(tmp_path: Path) -> None:
    spec = _write(
        tmp_path,
        "x = 1\n"
        'pg = service("postgres", interface("main", "postgres", 5432), image = "postgres:16")\n'
        "def test_x():\n    pass\n",
    )
    proc = run_faultbox("test", str(spec), env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    text = proc.stdout + proc.stderr
    assert proc.returncode == 1, text
    assert "spec.star:2" in text
    assert "image='postgres:16' needs a Docker engine" in text
    assert "no Docker engine answers at unix:///nonexistent/docker.sock" in text
    assert "Traceback" not in text


@pytest.mark.usefixtures("engine")
def test_an_image_neither_local_nor_pullable_is_a_load_error_naming_it(tmp_path: Path) -> None:
    spec = _write(
        tmp_path,
        'svc = service("svc", interface("main", "tcp", 5999),\n'
        '    image = "faultbox-test/no-such-image:1")\n'
        "def test_x():\n    pass\n",
    )
    proc = run_faultbox("test", str(spec))
    text = proc.stdout + proc.stderr
    assert proc.returncode == 1, text
    assert "spec.star:1" in text
    assert (
        "image 'faultbox-test/no-such-image:1' is not on this engine and could not be pulled"
        in (text)
    )
    assert "Traceback" not in text


def test_volumes_need_an_absolute_container_path(tmp_path: Path) -> None:
    spec = _write(
        tmp_path,
        'svc = service("svc", "/bin/true", volumes = {"/tmp": "data"})\n',
    )
    proc = run_faultbox("test", str(spec))
    assert proc.returncode == 1
    assert "volumes= is for image= or build= services" in proc.stdout + proc.stderr


@pytest.mark.usefixtures("engine")
def test_build_volumes_args_env_and_stdout_events(tmp_path: Path) -> None:
    build = tmp_path / "web"
    build.mkdir()
    # The image's own command must be replaced by args= (it would exit 9).
    (build / "Dockerfile").write_text(
        'FROM faultbox-test/app:latest\nCMD ["sh", "-c", "echo image-cmd; exit 9"]\n'
    )
    site = tmp_path / "site"
    site.mkdir()
    (site / "hello.txt").write_text("hello from the host\n")
    port = free_port()
    script = (
        'echo "greeting=$GREETING"; '
        "if touch /srv/new 2>/dev/null; then echo ro=no; else echo ro=yes; fi; "
        f"exec python3 -m http.server {port} --bind 127.0.0.1 --directory /srv"
    )
    spec = _write(
        tmp_path,
        f'web = service("web", interface("http", "http", {port}),\n'
        '    build = "web",\n'
        f"    args = ['sh', '-c', {script!r}],\n"
        '    env = {"GREETING": "hi"},\n'
        '    volumes = {"site": "/srv:ro"},\n'
        f'    healthcheck = http("localhost:{port}/hello.txt"),\n'
        ")\n"
        "def test_served_from_the_volume():\n"
        '    r = web.http.get(path="/hello.txt")\n'
        "    assert_eq(r.status, 200)\n"
        '    assert_eq(r.body, "hello from the host")\n'
        '    assert_eventually(type="stdout", service="web", where=lambda e: '
        'e.data.get("raw") == "greeting=hi")\n'
        '    assert_eventually(type="stdout", service="web", where=lambda e: '
        'e.data.get("raw") == "ro=yes")\n'
        '    assert_never(type="stdout", service="web", where=lambda e: '
        'e.data.get("raw") == "image-cmd")\n',
    )
    proc = run_faultbox("test", str(spec), timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert labelled_containers() == []


@pytest.mark.usefixtures("engine")
def test_a_container_that_exits_before_ready_reports_its_code_and_output(tmp_path: Path) -> None:
    port = free_port()
    spec = _write(
        tmp_path,
        f'svc = service("quitter", interface("main", "tcp", {port}),\n'
        '    image = "faultbox-test/redis:7",\n'
        "    args = ['sh', '-c', 'echo giving up >&2; exit 3'],\n"
        f'    healthcheck = tcp("localhost:{port}", timeout="60s"),\n'
        ")\n"
        "def test_x():\n    pass\n",
    )
    proc = run_faultbox("test", str(spec))
    text = proc.stdout + proc.stderr
    assert proc.returncode == 2, text
    assert 'service "quitter" exited with code 3 before it was ready' in text
    assert "giving up" in text
    assert labelled_containers() == []


@pytest.mark.usefixtures("engine")
def test_restart_is_a_new_container_that_keeps_its_tmpdir_volume(tmp_path: Path) -> None:
    port = free_port()
    spec = _write(
        tmp_path,
        f'redis = service("redis", interface("main", "redis", {port}),\n'
        '    image = "faultbox-test/redis:7",\n'
        # /persist exists only in the container (the test's directory, mounted): a restart
        # that ran the command on the host instead would fail
        '    volumes = {"{tmpdir}": "/persist"},\n'
        f'    args = ["redis-server", "--port", "{port}", "--dir", "/persist",\n'
        '            "--appendonly", "yes", "--appendfsync", "always", "--protected-mode", "no"],\n'
        f'    healthcheck = tcp("localhost:{port}"),\n'
        ")\n"
        "def test_restart():\n"
        '    assert_eq(redis.main.set(key="k", value="kept").ok, True)\n'
        "    crash(redis)\n"
        "    restart(redis)\n"
        '    assert_eq(redis.main.get(key="k").body, "kept")\n'
        '    assert_eventually(type="service_exited", service="redis")\n',
    )
    proc = run_faultbox("test", str(spec), timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert labelled_containers() == []


@pytest.mark.usefixtures("engine")
def test_parallel_workers_refuse_container_services_with_a_clear_message(tmp_path: Path) -> None:
    port = free_port()
    spec = _write(
        tmp_path,
        f'redis = service("redis", interface("main", "redis", {port}),\n'
        '    image = "faultbox-test/redis:7",\n'
        f'    args = ["redis-server", "--port", "{port}"],\n'
        f'    healthcheck = tcp("localhost:{port}"),\n'
        ")\n"
        "def test_a():\n    redis.main.ping()\n"
        "def test_b():\n    redis.main.ping()\n",
    )
    proc = run_faultbox("test", str(spec), "-j", "2", timeout=300)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 2, text
    assert "cannot run in an isolated -j worker" in text
    assert labelled_containers() == []


ECHO_SERVER = """
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        sys.stdout.write('handled ' + self.path[1:] + '\\\\n'); sys.stdout.flush()
        self.send_response(200); self.send_header('Content-Length', '2'); self.end_headers()
        self.wfile.write(b'ok')
    def log_message(self, *a): pass
HTTPServer(('127.0.0.1', PORT), H).serve_forever()
"""


@pytest.mark.usefixtures("engine")
def test_every_line_a_container_logs_is_an_event_of_its_test(tmp_path: Path) -> None:
    # The lines pass through the engine (attach stream) while the answers go straight over
    # loopback, so a line can reach the trace just after its step returns (docs/containers.md,
    # "Output"); by the end of the test every line is an event, in order.
    port = free_port()
    server = ECHO_SERVER.replace("PORT", str(port))
    spec = _write(
        tmp_path,
        f'web = service("web", interface("http", "http", {port}),\n'
        '    image = "faultbox-test/app:latest",\n'
        f'    args = ["python3", "-c", """{server}"""],\n'
        f'    healthcheck = http("localhost:{port}/health"),\n'
        ")\n"
        "def test_lines_before_answers():\n"
        "    for i in range(40):\n"
        '        assert_eq(web.http.get(path="/" + str(i)).status, 200)\n',
    )
    out = tmp_path / "results.json"
    proc = run_faultbox("test", str(spec), "--output", str(out), timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    (test,) = json.loads(out.read_text())["tests"]
    lines = [
        e["data"]["raw"]
        for e in test["events"]
        if e["type"] == "stdout" and e["service"] == "web" and e["data"]["raw"] != "handled health"
    ]
    assert lines == [f"handled {i}" for i in range(40)], lines
