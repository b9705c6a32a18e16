"""Cost of the container hand-off: a container's start with and without the wrapper.

    python bench/containers/bench_handoff.py [--repeat 20] [--json out.json]

Run from the repository root as root, with a Docker engine (tests/containers.sh up). Each
round starts, interleaved, one plain busybox container (`/bin/true`) and one wrapped by the
static launcher (container_handoff.py: prepare → mounts + wrap → start → accept → attach to a
Supervisor, notify set fsync+fdatasync), host network, and times: create+start (the engine's
call), start returned → hand-off done (accept), and create → exit observed (wait). Medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from faultbox.intercept import Supervisor  # noqa: E402
from faultbox.intercept.container_handoff import prepare  # noqa: E402
from tests.containers.intercept_harness import bind, busybox_image, docker_client  # noqa: E402


def _one(client: Any, image: str, sup: Supervisor, run_dir: str, wrapped: bool) -> dict[str, float]:
    t0 = time.perf_counter()
    handoff = prepare(("fsync", "fdatasync"), run_dir) if wrapped else None
    entry = ["/bin/true"]
    mounts: list[Any] = []
    if handoff is not None:
        mounts = [bind(s, d, m) for s, d, m in handoff.mounts]
        entry = handoff.wrap(entry)
    container = client.containers.create(
        image, entrypoint=entry, network_mode="host", mounts=mounts
    )
    t1 = time.perf_counter()
    container.start()
    t2 = time.perf_counter()
    if handoff is not None:
        proc = handoff.accept(60)
        sup.attach("bench", proc)
        handoff.close()
    t3 = time.perf_counter()
    status = container.wait(timeout=60)
    t4 = time.perf_counter()
    assert status["StatusCode"] == 0, status
    container.remove(force=True)
    if handoff is not None:
        proc.close()
    return {"create": t1 - t0, "start": t2 - t1, "handoff": t3 - t2, "total": t4 - t0}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--json")
    args = ap.parse_args()
    client = docker_client()
    image = busybox_image(client)
    runs: dict[str, list[dict[str, float]]] = {"plain": [], "wrapped": []}
    with tempfile.TemporaryDirectory(prefix="fb-bench-handoff-") as run_dir:
        sup = Supervisor(lambda rec: None)
        try:
            for kind in ("plain", "wrapped"):  # warm-up: image layers, page cache
                _one(client, image, sup, run_dir, kind == "wrapped")
            for _ in range(args.repeat):
                for kind in ("plain", "wrapped"):
                    runs[kind].append(_one(client, image, sup, run_dir, kind == "wrapped"))
        finally:
            sup.stop()
    result = {
        kind: {k: statistics.median(r[k] for r in rs) * 1000 for k in rs[0]}
        for kind, rs in runs.items()
    }
    for kind, med in result.items():
        print(kind, " ".join(f"{k}={v:.1f}ms" for k, v in med.items()))
    print(
        f"added per container (total, median): {result['wrapped']['total'] - result['plain']['total']:.1f} ms"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"medians_ms": result, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
