"""Catch the processes a service leaves behind by daemonizing, and end them with its test.

A service that double-forks (``daemonize yes``, ``pg_ctl start``, ``nohup … &`` under
``setsid``) puts its daemon in a new session, out of reach of the ``killpg`` that stops the
service. faultbox therefore marks itself a *child subreaper* (``PR_SET_CHILD_SUBREAPER``):
an orphan of any service is re-parented to faultbox instead of to init, shows up among its
children, and is killed and reaped when the test ends.

The kernel offers this without privileges on every Linux since 3.4. It cannot help when
faultbox itself is SIGKILLed (nothing of ours runs then): ``watchdog.py`` covers that case.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal

import psutil

__all__ = ["become_subreaper", "children_now", "end_strays"]

_PR_SET_CHILD_SUBREAPER = 36
_subreaper = False


def become_subreaper() -> bool:
    """Make this process the subreaper of its descendants (once); False if the kernel refused."""
    global _subreaper
    if not _subreaper:
        libc = ctypes.CDLL(None, use_errno=True)
        _subreaper = libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    return _subreaper


def children_now() -> set[int]:
    """PIDs of this process's direct children at this moment."""
    with contextlib.suppress(psutil.Error):
        return {p.pid for p in psutil.Process().children()}
    return set()


def end_strays(keep: set[int]) -> list[str]:
    """SIGKILL and reap every child of this process not in ``keep``, with its descendants.

    Returns ``"name (pid N)"`` for each live process that was ended, so the caller can say
    what a service left behind. Orphans that had already exited are reaped silently.
    """
    ended: list[str] = []
    for _ in range(5):  # descendants of a killed stray are re-parented to us in turn
        try:
            strays = [p for p in psutil.Process().children() if p.pid not in keep]
        except psutil.Error:
            break
        if not strays:
            break
        for proc in strays:
            family = [proc]
            with contextlib.suppress(psutil.Error):
                family += proc.children(recursive=True)
            for member in family:
                with contextlib.suppress(psutil.Error):
                    if member.status() != psutil.STATUS_ZOMBIE:
                        ended.append(f"{member.name()} (pid {member.pid})")
                    member.send_signal(signal.SIGKILL)
        for proc in strays:
            # Waited for by pid only: a blanket waitpid(-1) would steal the exit status of
            # children that subprocess or the service launcher are waiting for.
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(proc.pid, 0)
    return ended
