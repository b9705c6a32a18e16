"""``image=`` (container mode) support.

Container mode is not implemented: :func:`image_support_problem` says why ``image=`` cannot be
used here and shows the binary-mode spelling; ``service()`` turns that into a load-time error.
"""

from __future__ import annotations

import functools
import shutil
import subprocess

DOCKER_INFO_TIMEOUT_S = 5.0

_BINARY_MODE = {
    "postgres": 'service("postgres", "examples/ch11/services/postgres-fresh", '
    'interface("main", "postgres", 5432), args=["{tmpdir}/data", "-p", "5432"], '
    'user="postgres", …)',
    "redis": 'service("redis", "/usr/bin/redis-server", interface("main", "redis", 6379), '
    'args=["--port", "6379", "--dir", "{tmpdir}"], …)',
    "kafka": 'service("kafka", "tansu", interface("broker", "kafka", 9092), '
    'args=["broker", "--listener-url", "tcp://127.0.0.1:9092"], …)',
}


@functools.lru_cache(maxsize=1)
def docker_engine_answers() -> tuple[bool, str]:
    """``(True, "")`` if ``docker info`` reaches an engine, else ``(False, why not)``."""
    docker = shutil.which("docker")
    if docker is None:
        return False, "the docker CLI is not installed"
    try:
        proc = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=DOCKER_INFO_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"`docker info` failed: {exc}"
    if proc.returncode != 0 or not proc.stdout.strip():
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        why = lines[-1] if lines else f"exit code {proc.returncode}"
        return False, f"no Docker engine answers `docker info` ({why})"
    return True, ""


def _binary_hint(image: str) -> str:
    name = image.rsplit("/", 1)[-1].split(":", 1)[0].lower()
    for key, hint in _BINARY_MODE.items():
        if key in name:
            return hint
    return 'service("name", "path/to/binary", interface(…), args=[…], env={…})'


def image_support_problem(name: str, image: str) -> str:
    """Why ``service(name, image=…)`` cannot run, as a message that says what to do.

    Container mode is not implemented yet. Where no Docker engine answers, the message says so
    first (that is the first thing a user would have to fix); where one does, it says plainly
    that faultbox does not run containers yet. Either way it shows the binary-mode alternative.
    """
    ok, why = docker_engine_answers()
    hint = _binary_hint(image)
    if not ok:
        return (
            f"service({name!r}): image={image!r} needs Docker, and {why}. "
            "Run the service as a binary instead (binary mode: the process runs on this machine "
            f"under faultbox's seccomp filter), e.g. {hint}"
        )
    return (
        f"service({name!r}): image={image!r}: container mode is not supported yet by this "
        "faultbox (a Docker engine answers, but faultbox does not start containers). Run the "
        f"service as a binary instead, e.g. {hint}"
    )
