"""Fixtures for the composition tests: built demo binaries, a spec directory, the e2e helpers."""

from tests.generate.e2e import demo_bins, fbx, spec_dir  # noqa: F401 (pytest fixtures)
