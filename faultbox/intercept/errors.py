"""Exceptions of the interception layer."""

from __future__ import annotations


class InterceptError(Exception):
    """Base class of the interception errors."""


class LaunchError(InterceptError):
    """A service could not be started (missing binary, exec failure, launcher died)."""


class InterceptUnavailable(InterceptError):
    """This machine cannot intercept syscalls (no launcher, no seccomp user-notify, EBUSY)."""
