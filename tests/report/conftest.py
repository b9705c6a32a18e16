"""Fixtures for the report tests: built demo binaries and the e2e helpers (specs, the CLI)."""

from tests.generate.e2e import demo_bins, fbx  # noqa: F401 (pytest fixtures)
