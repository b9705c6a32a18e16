"""Fixtures for the scale tests (-j N, --shard, merge): demo binaries, spec dirs, the CLI."""

from tests.generate.e2e import demo_bins, fbx, spec_dir  # noqa: F401 (pytest fixtures)
