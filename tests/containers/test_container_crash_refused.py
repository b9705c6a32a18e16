"""A power loss (crash(lose_unsynced=True)) on a container service is refused at load time:
the crash journal resolves created, truncated and renamed files by path in faultbox's own
mount namespace, which would name the host's files (docs/crash-consistency.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_faultbox
from tests.containers.fb_containers import labelled_containers

_SPEC = """\
r = service("redis", interface("main", "redis", 16499), image = "faultbox-test/redis:7",
    args = ["redis-server", "--port", "16499", "--bind", "127.0.0.1"])

def test_power_loss():
    r.main.set(key = "k", value = "v")
{crash}
"""


@pytest.mark.usefixtures("engine")
def test_lose_unsynced_on_an_image_service_is_a_load_error(tmp_path: Path) -> None:
    spec = tmp_path / "spec.star"
    spec.write_text(_SPEC.format(crash="    crash(r, lose_unsynced = True)"))
    before = set(labelled_containers())
    proc = run_faultbox("test", str(spec))
    text = proc.stdout + proc.stderr
    assert proc.returncode == 1, text
    assert "spec.star:6" in text
    assert "'redis' is a container (image=)" in text
    assert "power loss on a container is not modelled yet" in text
    assert "Traceback" not in text
    assert set(labelled_containers()) == before  # refused before any container started
