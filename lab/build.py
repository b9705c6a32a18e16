#!/usr/bin/env python3
"""Install the failure lab's services as executables next to the demo services.

    python lab/build.py [--bin DIR]        # default DIR: <repo>/bin

Writes DIR/lab-queue, DIR/lab-effects and DIR/lab-worker the way demo/build.py writes the demo
services (one self-contained file each, ``#!<python> -IS``, demo/_common.py embedded), so the
lab runs on the same real, standard-library-only processes. Idempotent.
"""

import argparse
import importlib.util
import os
import sys
from pathlib import Path

LAB = Path(__file__).resolve().parent
ROOT = LAB.parent
SERVICES = {"lab-queue": "queue.py", "lab-effects": "effects.py", "lab-worker": "worker.py"}


def _demo_build():
    spec = importlib.util.spec_from_file_location("demo_build", ROOT / "demo" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=str(ROOT / "bin"), help="output directory")
    args = parser.parse_args(argv)
    demo = _demo_build()
    demo.DEMO = LAB  # render() reads the service source from here ...
    demo.COMMON = os.path.relpath(ROOT / "demo" / "_common.py", LAB)  # ... and _common from demo/
    interpreter = os.path.realpath(sys.executable)
    bin_dir = Path(args.bin).resolve()
    for name, source in SERVICES.items():
        content = demo.render(name, source, interpreter)
        content = content.replace("demo/build.py", "lab/build.py").replace(
            f"demo/{source}", f"lab/{source}"
        )
        changed = demo.install(bin_dir / name, content)
        print(f"{'wrote' if changed else 'unchanged'} {bin_dir / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
