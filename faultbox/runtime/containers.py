"""One running container service: create, start, output capture, exit watch, stop, remove.

A :class:`ContainerService` has the public surface of :class:`process.ServiceProcess` (the
session, the exit watch, healthchecks and excerpts use it unchanged). The container runs on
the host's network (``network_mode="host"``: the spec's fixed ports are the host's, so
``.addr`` and ``.internal_addr`` are both ``localhost:<port>``), is labelled with the run id,
service and test (``docker_engine.LABEL_*``), is fresh for every test and force-removed at
teardown; the watchdog removes a run's containers should faultbox be killed.

Output comes from the engine's attach stream (stdout and stderr demultiplexed) and is written
into one pipe per stream, which an :class:`process.OutputCapture` drains as for a binary.
The exit status comes from the engine's wait; a status of 128+N (how the engine reports an
init killed by signal N) is reported as killed by that signal.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import os
import signal
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faultbox.common import docker_engine, images
from faultbox.intercept.container_handoff import prepare as prepare_handoff
from faultbox.starlark_env.values import Service

from .process import LineCallback, OutputCapture, ServiceProcess, ServiceStartError
from .tmpdirs import TMPDIR_PLACEHOLDER, service_tmpdir

START_TIMEOUT_S = 30.0  # create + start + the interception hand-off
SETTLE_TIMEOUT_S = 2.0  # as OutputCapture.settle: a hung capture must not hang the test
UNKNOWN_STATUS = 255  # the engine could not say (it went away while we waited)
CATCH_UP_LINES = 64  # the engine's log may trail the attach stream by a few lines
_names = itertools.count(1)


class ContainerHandle:
    """What the session and the exit watch read from a container without interception
    (``proc.proc``; an intercepted one is the hand-off's ``InterceptedContainerProcess``).

    ``pidfd`` is the read end of a pipe whose write end is closed once the engine reports the
    container's exit: readable exactly when it has exited, like a pidfd (the exit watch
    selects on it). ``pid`` is the host pid of the container's init.
    """

    listener_fd: int | None = None  # never attached to the supervisor

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.pidfd, self._exit_w = os.pipe2(os.O_CLOEXEC)

    def mark_exited(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._exit_w)

    def close(self) -> None:
        self.mark_exited()
        with contextlib.suppress(OSError):
            os.close(self.pidfd)


def exit_code_from_status(status: int) -> int:
    """The engine's status → ServiceProcess's convention (negative: killed by that signal)."""
    if 128 < status < 128 + signal.NSIG:
        return -(status - 128)
    return status


class ContainerService(ServiceProcess):
    """A container started fresh for one test (same surface as ServiceProcess)."""

    def __init__(
        self,
        name: str,
        image: str,
        args: list[str],
        env: dict[str, str],
        *,
        labels: dict[str, str],
        mounts: list[tuple[str, str, str]],
        notify: set[str],
        user: str = "",
        workdir: str = "",
        line_callbacks: list[LineCallback] | None = None,
        echo: Callable[[str, str], None] | None = None,
        handoff_dir: str = "",
    ) -> None:
        super().__init__(
            name, args, env, cwd=workdir or None, notify=notify, user=user,
            line_callbacks=line_callbacks, echo=echo,
        )  # fmt: skip
        self.image = image
        self.labels = labels
        self.mounts = mounts
        self.workdir = workdir
        self.handoff_dir = handoff_dir  # where the interception hand-off's socket lives
        self.container: Any = None
        self.proc: Any = None  # ContainerHandle, or InterceptedContainerProcess
        self._removed = False

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else 0

    def fresh(self) -> ContainerService:
        """An unstarted copy (``restart()``: a new container from the same declaration)."""
        return ContainerService(
            self.name, self.image, self.argv, self.env,
            labels=self.labels, mounts=self.mounts, notify=self.notify, user=self.user,
            workdir=self.workdir, line_callbacks=self.line_callbacks, echo=self.echo,
            handoff_dir=self.handoff_dir,
        )  # fmt: skip

    # ------------------------------------------------------------------ start

    def start(self) -> None:
        """Create and start the container (raises ServiceStartError with a clear message)."""
        try:
            self._start()
        except BaseException as exc:
            self._remove()  # also on Ctrl-C mid-start: leave no container behind
            for cap in self.outputs.values():
                cap.close()
            if self.proc is not None:  # the hand-off's pidfd and listener
                self.proc.close()
                self.proc = None
            if isinstance(exc, ServiceStartError) or not isinstance(exc, Exception):
                raise
            # docker.errors.*, requests errors: say what the engine said
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ServiceStartError(
                f'service "{self.name}" failed to start (image {self.image}): {text}'
            ) from None

    def _start(self) -> None:
        import docker.types  # third-party, loaded only when a spec runs containers

        client = docker_engine.client()
        entrypoint, cmd = images.image_command(self.image)
        command = self.argv or cmd  # args= replaces the image's command, like `docker run`
        # Interception (intercept/container_handoff.py): the static launcher becomes the
        # entrypoint, installs the filter and hands its listener over a mounted socket.
        handoff = prepare_handoff(sorted(self.notify), self.handoff_dir or "/tmp")
        mounts = [
            docker.types.Mount(target, source, type="bind", read_only=mode == "ro")
            for source, target, mode in [*self.mounts, *(handoff.mounts if handoff else [])]
        ]
        kwargs: dict[str, Any] = {"entrypoint": entrypoint or None, "command": command or None}
        if handoff is not None:  # the whole wrapped argv is the entrypoint; no command
            kwargs = {"entrypoint": handoff.wrap([*entrypoint, *command]), "command": None}
        run_id = self.labels.get(docker_engine.LABEL_RUN, "run")
        self.container = client.containers.create(
            self.image,
            name=f"faultbox-{run_id[:12]}-{self.name}-{os.getpid()}-{next(_names)}",
            environment=self.env,
            labels=self.labels,
            mounts=mounts,
            network_mode="host",
            user=self.user or None,
            working_dir=self.workdir or None,
            detach=True,
            **kwargs,
        )
        # Attached before it starts, so not a line is missed.
        stream = client.api.attach_socket(
            self.container.id, params={"stdout": 1, "stderr": 1, "stream": 1}
        )
        raw = getattr(stream, "_sock", stream)
        if isinstance(raw, socket.socket):
            raw.settimeout(None)  # a quiet service must not time the stream out
        self._capture_output(stream)
        try:
            self.container.start()
            if handoff is not None:
                self.proc = handoff.accept(START_TIMEOUT_S, exited=self._exited_how)
        finally:
            if handoff is not None:
                handoff.close()
        if self.proc is None:
            self.container.reload()
            self.proc = ContainerHandle(int(self.container.attrs["State"].get("Pid") or 0))
        threading.Thread(target=self._wait, name=f"wait-{self.name}", daemon=True).start()

    def _exited_how(self) -> str | None:
        """None while the container runs, else how it ended (for the hand-off's wait)."""
        self.container.reload()
        state = self.container.attrs.get("State", {})
        if state.get("Running") or state.get("Status") == "created":
            return None
        return f"exit code {state.get('ExitCode')}"

    def _capture_output(self, stream: Any) -> None:
        pipes: dict[int, int] = {}
        for stream_id, name in ((1, "stdout"), (2, "stderr")):
            r, w = os.pipe2(os.O_CLOEXEC)
            pipes[stream_id] = w
            echo = functools.partial(self.echo, self.name) if self.echo else None
            self.outputs[name] = OutputCapture(
                name, r, callbacks=list(self.line_callbacks), echo=echo
            )
        threading.Thread(
            target=_pump, args=(stream, pipes), name=f"attach-{self.name}", daemon=True
        ).start()

    def _wait(self) -> None:
        status = UNKNOWN_STATUS
        with contextlib.suppress(Exception):  # the engine went away: the status is unknown
            status = int(self.container.wait(timeout=None).get("StatusCode", -1))
        code = exit_code_from_status(status)
        self._exit_code = code
        if isinstance(self.proc, ContainerHandle):
            self.proc.mark_exited()
        self._exited.set()
        for cb in list(self.exit_callbacks):
            with contextlib.suppress(Exception):
                cb(code)

    # ------------------------------------------------------------------ output

    def settle_output(self) -> None:
        """Wait until what the engine has logged so far reached the captures, then settle them.

        A container's bytes pass through the engine before they reach our pipes, so settling
        the pipes alone would miss a line the service wrote just before it answered a step.
        The engine writes each chunk to its log and to the attach stream from one copier, so
        once the last line it has logged is among the lines received, everything written
        before has been received too (one ``logs?tail=1`` call per stream; bounded wait).
        """
        if self.container is not None and not self._removed and not self._exited.is_set():
            for name, cap in self.outputs.items():
                if threading.current_thread() is cap.thread:
                    continue  # a line callback reading the trace: its own line is in progress
                with contextlib.suppress(Exception):  # no log to read (log driver "none")
                    self._catch_up(name, cap)
        super().settle_output()

    def _catch_up(self, stream: str, cap: OutputCapture) -> None:
        last = _last_logged_line(self.container.id, stream)
        if not last:
            return
        with cap._cond:  # notified whenever the capture has processed a chunk
            cap._cond.wait_for(
                lambda: last in list(cap.lines)[-CATCH_UP_LINES:] or cap.done.is_set(),
                SETTLE_TIMEOUT_S,
            )

    # ------------------------------------------------------------------ stop

    def stop(self, grace_s: float = 2.0) -> None:
        """Stop the container (its stop signal, SIGKILL after ``grace_s``) and remove it."""
        if self.container is None:
            return
        self.stopping = True
        if not self._exited.is_set():
            with contextlib.suppress(Exception):
                self.container.stop(timeout=max(0, math.ceil(grace_s)))
            self._exited.wait(5.0)
        self._remove()
        for cap in self.outputs.values():
            cap.close()
        if self.proc is not None:
            self.proc.close()

    def kill(self) -> None:
        self.stopping = True
        if self.container is not None:
            with contextlib.suppress(Exception):
                self.container.kill()

    def _signal_group(self, sig: int) -> None:
        if self.container is not None:
            with contextlib.suppress(Exception):
                self.container.kill(signal=int(sig))

    def _remove(self) -> None:
        if self.container is None or self._removed:
            return
        with contextlib.suppress(Exception):  # NotFound: removed already
            self.container.remove(force=True)
        self._removed = True


def _last_logged_line(container_id: str, stream: str) -> str:
    """The last line the engine has logged on ``stream`` ("" if none).

    One request (the SDK's ``logs()`` would first inspect the container to learn whether it
    has a TTY; ours never has one, so the answer is always the multiplexed format).
    """
    api = docker_engine.client().api
    res = api._get(
        api._url("/containers/{0}/logs", container_id),
        params={"stdout": int(stream == "stdout"), "stderr": int(stream == "stderr"), "tail": 1},
    )
    api._raise_for_status(res)
    payload, data = res.content, b""
    while len(payload) >= 8:  # frames: stream id, 3 zero bytes, big-endian length, bytes
        size = int.from_bytes(payload[4:8], "big")
        data += payload[8 : 8 + size]
        payload = payload[8 + size :]
    return data.decode("utf-8", "replace").rstrip("\n").rstrip("\r")


def _pump(stream: Any, pipes: dict[int, int]) -> None:
    """Copy the attach stream's frames into the stdout/stderr pipes until it ends."""
    from docker.utils.socket import frames_iter  # third-party, with the SDK

    try:
        for stream_id, data in frames_iter(stream, tty=False):
            fd = pipes.get(stream_id)
            if fd is not None and data:
                with contextlib.suppress(OSError):
                    os.write(fd, data)
    except Exception:  # the engine closed the stream (removed container): end of output
        pass
    finally:
        for fd in pipes.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(Exception):
            stream.close()


def container_service(
    svc: Service,
    env: dict[str, str],
    *,
    session_tmpdir: str,
    spec_dir: Path,
    run_id: str,
    test: str,
    notify: set[str],
    line_callbacks: list[LineCallback],
    echo: Callable[[str, str], None] | None,
) -> ContainerService:
    """The ContainerService for ``svc`` in one test.

    ``"{tmpdir}"`` in args, env and volume paths is the service's per-test directory, bind-
    mounted at the same path inside the container (world-writable: the image's users are not
    the host's). Relative volume host paths are relative to the spec's directory.
    """
    if _isolated_network():
        raise ServiceStartError(
            f'service "{svc.name}" failed to start: container services run on the host\'s '
            "network and cannot run in an isolated -j worker; run this test with -j 1 or "
            "name it with --serial GLOB (docs/containers.md)"
        )
    used = any(TMPDIR_PLACEHOLDER in a for a in svc.args) or any(
        TMPDIR_PLACEHOLDER in v for v in [*env.values(), *(h for h, _, _ in svc.volumes)]
    )
    mounts: list[tuple[str, str, str]] = []
    args, tmp_env = list(svc.args), dict(env)
    if used:
        path = service_tmpdir(session_tmpdir, svc.name)
        os.chmod(path, 0o777)
        args = [a.replace(TMPDIR_PLACEHOLDER, path) for a in args]
        tmp_env = {k: v.replace(TMPDIR_PLACEHOLDER, path) for k, v in env.items()}
        mounts.append((path, path, "rw"))
    for host, target, mode in svc.volumes:
        host = host.replace(TMPDIR_PLACEHOLDER, mounts[0][0]) if used else host
        source = Path(host) if os.path.isabs(host) else spec_dir / host
        if not source.exists():
            raise ServiceStartError(
                f'service "{svc.name}" failed to start: volumes: {host!r} does not exist ({source})'
            )
        mounts.append((str(source.resolve()), target, mode))
    labels = {
        docker_engine.LABEL_RUN: run_id,
        docker_engine.LABEL_SERVICE: svc.name,
        docker_engine.LABEL_TEST: test,
    }
    return ContainerService(
        svc.name, svc.image, args, tmp_env,
        labels=labels, mounts=mounts, notify=notify, user=svc.user, workdir=svc.workdir,
        line_callbacks=line_callbacks, echo=echo, handoff_dir=session_tmpdir,
    )  # fmt: skip


def _net_namespace() -> int:
    try:
        return os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return 0


# faultbox's own network namespace, before any -j worker is forked (and enters its own).
_STARTUP_NET = _net_namespace()


def _isolated_network() -> bool:
    """In a network namespace faultbox entered after start (a -j worker's), which the engine's
    containers cannot join: they would bind ports this test cannot reach."""
    return _net_namespace() != _STARTUP_NET
