"""crash() and restart(): end a service mid-test and start it again, inside one Session.

``crash`` SIGKILLs the service's process group and records a ``service_exited`` event with
``crashed=true`` and ``expected=true`` (the test asked for it: no SERVICE_CRASHED diagnostic).
``restart`` launches the same argv, environment, working directory and notify set again (so
the per-test ``{tmpdir}`` data directory is the one the crashed process used), re-attaches it
to the session's supervisor under the same service name (the rule sets active for that name
apply to the new process too), and waits for its healthcheck.

``crash(name, lose_unsynced=True)`` models a power loss: once every process of the service
is gone, the supervisor's journal (intercept/journal.py) undoes every write that no fsync
covered; each file it touched is an ``unsynced_dropped`` event (docs/crash-consistency.md).
``crash`` and ``restart`` are events of their own too.
"""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING

from faultbox.trace.vocabulary import EventType

from .containers import ContainerService
from .health import wait_ready
from .process import ServiceProcess, ServiceStartError

if TYPE_CHECKING:  # the session imports this module; only the type goes the other way
    from .session import Session

#: How long a SIGKILLed process may take to be reaped (a D-state task can take a while).
REAP_TIMEOUT_S = 10.0


def crash(session: Session, name: str, lose_unsynced: bool = False, torn: bool = False) -> None:
    """SIGKILL ``name``'s process group now and wait until it is gone; with ``lose_unsynced``
    drop what it wrote since each file's last fsync (``torn``: a prefix of each file's last
    write survives)."""
    proc = session.processes.get(name)
    if proc is None:
        raise ServiceStartError(f"crash({name}): the service is not running in this test")
    if proc.exited:
        how = proc.describe_exit()
        how = f"was {how}" if how.startswith("killed") else how
        raise ServiceStartError(
            f"crash({name}): the service is not running (it {how}); restart({name}) starts it again"
        )
    journal = session.supervisor.journal(name) if session.supervisor is not None else None
    if lose_unsynced and journal is None:
        raise ServiceStartError(
            f"crash({name}, lose_unsynced=True): the service's writes are not journaled "
            "(name the service directly in crash(), so the spec analysis sees it)"
        )
    session.log.emit_ordered(
        EventType.CRASH, name,
        {"lose_unsynced": str(lose_unsynced).lower(), "torn": str(torn).lower()},
    )  # fmt: skip
    gone = threading.Event()
    proc.exit_callbacks.append(lambda _code: gone.set())
    proc.kill()  # marks it stopping: the session's exit watch records nothing of its own
    if not (proc.exited or gone.wait(REAP_TIMEOUT_S)):
        raise ServiceStartError(f"crash({name}): pid {proc.pid} survived SIGKILL")
    session.log.emit_ordered(
        EventType.SERVICE_EXITED,
        name,
        {
            "exit_code": str(proc.exit_code),
            "signal": signal.Signals.SIGKILL.name,
            "expected": "true",
            "crashed": "true",
        },  # fmt: skip
    )
    if lose_unsynced and journal is not None:
        # every filtered task (forked children too) must be gone before the undo
        if not session.supervisor.wait_detached(name, REAP_TIMEOUT_S):
            raise ServiceStartError(f"crash({name}): its processes survived SIGKILL")
        for d in journal.drop_unsynced(torn):
            fields = {"path": d.path, "bytes": str(d.bytes), "writes": str(d.writes)}
            if d.removed:
                fields["removed"] = "true"
            if torn:
                fields["torn_kept"] = str(d.torn_kept)
            session.log.emit(EventType.UNSYNCED_DROPPED, name, fields)


def restart(session: Session, name: str) -> None:
    """Start ``name`` again as it was started for this test and wait until it is ready."""
    old = session.processes.get(name)
    if old is None:
        raise ServiceStartError(f"restart({name}): the service was never started in this test")
    if not old.exited:
        crash(session, name)  # restart of a running service: it goes down first
    old.stop(0.0)  # closes what the dead process left: its output pipes and pidfd
    session.log.emit_ordered(EventType.RESTART, name)
    svc = session.spec.registry.services[name]
    proc: ServiceProcess
    if isinstance(old, ContainerService):  # a new container from the same declaration
        proc = old.fresh()
    else:
        proc = ServiceProcess(
            name, old.argv, old.env,
            cwd=old.cwd, notify=old.notify, user=old.user,
            line_callbacks=old.line_callbacks, echo=old.echo,
        )  # fmt: skip
    proc.start()
    session.processes[name] = proc
    session.log.add_drain(proc.settle_output)
    session.log.emit(EventType.SERVICE_STARTED, name, {"pid": str(proc.pid), "restart": "true"})
    proc.exit_callbacks.append(lambda code: session._on_exit(name, code))
    if proc.proc.listener_fd is not None:
        try:
            session._supervisor().attach(name, proc.proc)
        except RuntimeError as exc:
            raise ServiceStartError(f'service "{name}" failed to restart: {exc}') from None
    wait_ready(proc, svc.healthcheck, [i.port for i in svc.interfaces.values()])
    session.log.emit_ordered(EventType.SERVICE_READY, name, {"restart": "true"})
