"""The CI examples of docs/ci.md do what the page says: their shard and merge commands, taken
from the page as written, run every test exactly once and give one result set."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import REPO

CI_MD = REPO / "docs" / "ci.md"
# No services: nothing binds a port (no lock needed); one test fails, as in real matrices.
_SPEC = "".join(
    f"def test_{c}():\n    assert_true({'False' if c == 'e' else 'True'})\n" for c in "abcdefg"
)


def _folded(lines: list[str], start: int) -> str:
    """The YAML folded scalar (``>``) whose indicator ends line ``start``: its lines joined."""
    indent = len(lines[start + 1]) - len(lines[start + 1].lstrip())
    body = []
    for line in lines[start + 1 :]:
        if line.strip() and len(line) - len(line.lstrip()) < indent:
            break
        body.append(line.strip())
    return " ".join(x for x in body if x)


def _commands() -> dict[str, str]:
    lines = CI_MD.read_text(encoding="utf-8").splitlines()
    found: dict[str, str] = {}
    for i, line in enumerate(lines):
        if line.rstrip().endswith("- run: >"):
            found["gha shard"] = _folded(lines, i)
        elif line.strip() == "- >" and lines[i - 1].strip() == "args:":
            found["k8s shard"] = _folded(lines, i)
        elif m := re.match(r"\s*- (?:run: )?(faultbox merge .*)$", line):
            found["k8s merge" if "/results/" in m.group(1) else "gha merge"] = m.group(1)
    assert set(found) == {"gha shard", "gha merge", "k8s shard", "k8s merge"}, found
    return found


@pytest.fixture
def shell_env(tmp_path: Path) -> dict[str, str]:
    """PATH with a ``faultbox`` command (this source tree) and no sudo needed (we are root)."""
    bindir = tmp_path / "path"
    bindir.mkdir()
    wrapper = bindir / "faultbox"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m faultbox.cli "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}", PYTHONPATH=str(REPO))


def _check_merged(merged_json: Path, merged_xml: Path) -> None:
    doc = json.loads(merged_json.read_text())
    assert [t["name"] for t in doc["tests"]] == [f"test_{c}" for c in "abcdefg"]
    assert (doc["pass"], doc["fail"]) == (6, 1)
    suite = ET.parse(merged_xml).getroot().find("testsuite")
    assert suite is not None
    assert sorted(c.get("name") or "" for c in suite.iter("testcase")) == [
        f"test_{c}" for c in "abcdefg"
    ]
    assert (suite.get("tests"), suite.get("failures")) == ("7", "1")


def test_the_kubernetes_indexed_job_example(tmp_path: Path, shell_env: dict[str, str]) -> None:
    cmds = _commands()
    work, results = tmp_path / "specs", tmp_path / "results"
    work.mkdir()
    results.mkdir()
    (work / "order_flow.faults.star").write_text(_SPEC)
    shard = cmds["k8s shard"].replace("/results/", f"{results}/")
    for index in range(4):  # completions: 4; each pod gets its 0-based index
        env = dict(shell_env, JOB_COMPLETION_INDEX=str(index), FAULTBOX_SHARD_TOTAL="4")
        pod = subprocess.run(["sh", "-c", shard], cwd=work, env=env, capture_output=True,
                             text=True, timeout=120)  # fmt: skip
        assert pod.returncode == 0, pod.stderr  # a failing test is a result (exit 2 folded)
        assert f"shard {index + 1}/4 (from JOB_COMPLETION_INDEX/FAULTBOX_SHARD_TOTAL)" in (
            pod.stderr
        )
    merge = cmds["k8s merge"].replace("/results/", f"{results}/")
    done = subprocess.run(["sh", "-c", merge], cwd=work, env=shell_env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2, done.stderr  # one test failed: the merge says so
    _check_merged(results / "merged.json", results / "merged.xml")
    # A pod whose results never arrived: the merge names the missing shard.
    (results / "results-2.json").unlink()
    lost = subprocess.run(["sh", "-c", merge], cwd=work, env=shell_env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert lost.returncode == 1
    assert "missing the results of shard 3/4" in lost.stderr
    # A spec error is not folded into success.
    (work / "order_flow.faults.star").write_text("def test_x(:\n")
    env = dict(shell_env, JOB_COMPLETION_INDEX="0", FAULTBOX_SHARD_TOTAL="4")
    broken = subprocess.run(["sh", "-c", shard], cwd=work, env=env, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert broken.returncode == 1, broken.stderr


def test_the_github_actions_example(tmp_path: Path, shell_env: dict[str, str]) -> None:
    cmds = _commands()
    (tmp_path / "order_flow.faults.star").write_text(_SPEC)
    # The runner's sudo -E: we are root already (and sudo may not be installed here).
    shard_cmd = cmds["gha shard"].replace('sudo -E env "PATH=$PATH" ', "")
    assert shard_cmd.startswith("faultbox test ")
    codes = []
    for k in range(1, 5):  # matrix.shard: [1, 2, 3, 4]
        one = subprocess.run(["sh", "-c", shard_cmd.replace("${{ matrix.shard }}", str(k))],
                             cwd=tmp_path, env=shell_env, capture_output=True, text=True,
                             timeout=120)  # fmt: skip
        assert f"shard {k}/4: " in one.stderr, one.stderr
        codes.append(one.returncode)
    assert sorted(codes) == [0, 0, 0, 2]  # the shard with test_e fails its job
    done = subprocess.run(["sh", "-c", cmds["gha merge"]], cwd=tmp_path, env=shell_env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2, done.stderr
    _check_merged(tmp_path / "merged.json", tmp_path / "merged.xml")
