"""Readiness: poll a service's healthcheck until it answers, and check ports before starting."""

from __future__ import annotations

import socket
import time

import httpx
import psutil

from faultbox.starlark_env.values import Healthcheck

from .process import ServiceProcess, ServiceStartError

POLL_INTERVAL_S = 0.02


def tcp_accepts(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _http_ready(client: httpx.Client, url: str) -> bool:
    try:
        return 200 <= client.get(url).status_code < 400
    except httpx.HTTPError:
        return False


def wait_ready(proc: ServiceProcess, hc: Healthcheck | None, ports: list[int]) -> float:
    """Block until ``proc`` is ready; return the seconds it took.

    Without a healthcheck a service is ready when every declared port accepts (or at once if
    it declares none). Raises ServiceStartError if the process exits first or time runs out.
    """
    start = time.monotonic()
    timeout = hc.timeout_s if hc is not None else 10.0
    deadline = start + timeout
    with httpx.Client(timeout=2.0, verify=False) as client:  # no CA bundle load: ~27 ms/call
        while True:
            if proc.exited:
                raise ServiceStartError(_exited_message(proc))
            if hc is None:
                ready = all(tcp_accepts("127.0.0.1", p) for p in ports)
            elif hc.kind == "tcp":
                ready = tcp_accepts(hc.host, hc.port)
            else:
                ready = _http_ready(client, hc.target)
            if ready:
                return time.monotonic() - start
            if time.monotonic() >= deadline:
                what = f"{hc.kind.upper()} healthcheck {hc.target!r}" if hc else f"ports {ports}"
                raise ServiceStartError(
                    f'service "{proc.name}" not ready: {what} did not answer within '
                    f"{timeout:g}s (the process is running)" + _tail(proc)
                )
            time.sleep(POLL_INTERVAL_S)


def _exited_message(proc: ServiceProcess) -> str:
    # Give the output threads a moment to collect the last lines (the pipes reach EOF as the
    # process exits, so this returns at once unless a child of it still holds them; 5 s, not
    # less: on a loaded machine the reader thread may not run for a while).
    for cap in proc.outputs.values():
        cap.done.wait(5.0)
    return f'service "{proc.name}" {proc.describe_exit()} before it was ready' + _tail(proc)


def _tail(proc: ServiceProcess) -> str:
    lines = proc.recent_output(8)
    if not lines:
        return ""
    return "\n  last output:\n" + "\n".join(f"    {ln}" for ln in lines)


def port_owner(port: int) -> str:
    """Who listens on ``port`` (``pid 123 (redis-server)``), or ``""`` if unknown."""
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
                if conn.pid:
                    try:
                        return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
                    except psutil.Error:
                        return f"pid {conn.pid}"
                return "another process"
    except psutil.Error:
        pass
    return ""


def wait_ports_free(ports: list[int], timeout_s: float = 3.0) -> list[int]:
    """Wait until nothing listens on ``ports``; return those still busy."""
    deadline = time.monotonic() + timeout_s
    while True:
        busy = [p for p in ports if tcp_accepts("127.0.0.1", p, 0.2)]
        if not busy or time.monotonic() >= deadline:
            return busy
        time.sleep(0.05)
