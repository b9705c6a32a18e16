"""The error event-source readers raise when they cannot start (the session wraps it)."""

from __future__ import annotations


class SourceStartError(Exception):
    """A reader could not start; the message says why and what to change."""
