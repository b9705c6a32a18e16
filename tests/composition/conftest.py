"""Fixtures for the generator and composition tests (see e2e.py)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "faultbox_e2e", Path(__file__).parents[1] / "generate" / "e2e.py"
)
assert _spec is not None and _spec.loader is not None
e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)


@pytest.fixture(scope="session")
def demo_bins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo services, built once per session into a temporary directory."""
    return e2e.build_demo(tmp_path_factory.mktemp("demo") / "bin")


@pytest.fixture
def spec_dir(tmp_path: Path, demo_bins: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temporary current directory with ``bin`` → the demo binaries (specs are loaded from it)."""
    e2e.workdir(tmp_path, demo_bins)
    monkeypatch.chdir(tmp_path)
    yield tmp_path


@pytest.fixture(scope="session")
def fbx():  # noqa: ANN201 - the helper module (specs on disk, the faultbox CLI)
    """The e2e helper module: ``fbx.faultbox(...)``, ``fbx.workdir(...)``, ``fbx.REPO`` …"""
    return e2e
