"""The Docker engine that ``image=`` services run on, reached through the Docker SDK.

One client per process, made from the environment (``DOCKER_HOST``, ``DOCKER_TLS_VERIFY``,
``DOCKER_CERT_PATH``; default ``unix:///var/run/docker.sock``). :func:`engine_problem` says
why no engine can be used (SDK missing, nothing answers), so a spec with ``image=`` fails at
load with what to do instead of a traceback at start.

Every container faultbox creates carries the labels below; :func:`remove_run_containers`
removes a run's containers (teardown of a test that could not stop its own, and the tests).
The watchdog (``runtime/watchdog.py``) does the same with a plain HTTP call, since it runs
without site-packages.
"""

from __future__ import annotations

import functools
import os
from typing import Any

LABEL_RUN = "faultbox.run"  # the run's FAULTBOX_RUN_ID
LABEL_SERVICE = "faultbox.service"
LABEL_TEST = "faultbox.test"
PING_TIMEOUT_S = 5.0
API_TIMEOUT_S = 120.0  # pulls and builds go through the same client


class EngineUnavailable(Exception):
    """No Docker engine can be used; the message says why and what to do."""


def engine_address() -> str:
    """Where the client looks for the engine (for messages)."""
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def _what_to_do() -> str:
    if os.environ.get("DOCKER_HOST"):
        return "check DOCKER_HOST, or unset it to use /var/run/docker.sock"
    return (
        "start the engine (e.g. `dockerd --bridge=none --iptables=false --ip-forward=false &` "
        "as root, or `tests/containers.sh up`), or set DOCKER_HOST"
    )


@functools.lru_cache(maxsize=1)
def _client_or_problem() -> tuple[Any, str]:
    try:
        import docker  # third-party, imported only when a spec declares image=
    except ImportError:
        return None, "the Docker SDK for Python is not installed (pip install docker)"
    try:
        # A short timeout for the ping: an address that does not answer must not wait for
        # the long one that pulls and builds get afterwards.
        client = docker.from_env(timeout=int(PING_TIMEOUT_S))
        client.api.ping()
        client.api.timeout = API_TIMEOUT_S
    except Exception as exc:  # docker.errors.DockerException, requests errors, OSError
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, f"no Docker engine answers at {engine_address()} ({why}); {_what_to_do()}"
    return client, ""


def engine_problem() -> str:
    """``""`` if an engine answers, else why not and what to do (cached per process)."""
    return _client_or_problem()[1]


def client() -> Any:
    """The process's ``docker.DockerClient`` (raises :class:`EngineUnavailable`)."""
    found, problem = _client_or_problem()
    if found is None:
        raise EngineUnavailable(problem)
    return found


def forget_client() -> None:
    """Drop the cached client (a forked worker, or a test that changed DOCKER_HOST)."""
    _client_or_problem.cache_clear()


def run_containers(run_id: str) -> list[Any]:
    """Every container (running or not) labelled with ``run_id``."""
    return list(client().containers.list(all=True, filters={"label": f"{LABEL_RUN}={run_id}"}))


def remove_run_containers(run_id: str) -> int:
    """Force-remove the run's containers; how many were removed."""
    removed = 0
    for container in run_containers(run_id):
        try:
            container.remove(force=True)
            removed += 1
        except Exception:  # already gone (removed by its own teardown meanwhile)
            continue
    return removed
