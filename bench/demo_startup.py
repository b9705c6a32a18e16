"""Time-to-ready of the demo services: spawn -> the port accepts a TCP connection.

    python bench/demo_startup.py [--runs 20] [--bin DIR]

Builds the executables into a temporary directory with demo/build.py (unless --bin is given),
then for each service starts it ``--runs`` times on a fresh port and polls connect() every
0.5 ms until it succeeds. Prints min / median / p90 / max in milliseconds, plus the floor: the
same interpreter running ``python -IS -c pass`` to exit (spawn + interpreter start-up + exit).
Standard library only.
"""

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("mock-db", "inventory-svc", "mock-api", "order-svc")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_to_ready(exe, env, timeout=10.0):
    port = free_port()
    full_env = {**env, "PORT": str(port)}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [exe], env=full_env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=None
    )
    try:
        while True:
            s = socket.socket()
            try:
                s.connect(("127.0.0.1", port))
                return (time.perf_counter() - t0) * 1000.0
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"{exe} exited with {proc.returncode}") from None
                if time.perf_counter() - t0 > timeout:
                    raise RuntimeError(f"{exe} not ready after {timeout}s") from None
                time.sleep(0.0005)
            finally:
                s.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def time_to_exit(interpreter):
    t0 = time.perf_counter()
    subprocess.run([interpreter, "-IS", "-c", "pass"], check=True)
    return (time.perf_counter() - t0) * 1000.0


def row(label, samples):
    samples = sorted(samples)
    p90 = samples[min(len(samples) - 1, round(0.9 * (len(samples) - 1)))]
    return (
        f"| {label:<28} | {samples[0]:6.1f} | {statistics.median(samples):6.1f} | "
        f"{p90:6.1f} | {samples[-1]:6.1f} |"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--bin", help="use already built executables from DIR")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="fb-demo-bench-") as tmp:
        bin_dir = Path(args.bin) if args.bin else Path(tmp) / "bin"
        if not args.bin:
            subprocess.run(
                [sys.executable, str(ROOT / "demo" / "build.py"), "--bin", str(bin_dir)],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        interpreter = (bin_dir / NAMES[0]).read_text().split("\n", 1)[0][2:].split()[0]
        env = {
            "WAL_PATH": str(Path(tmp) / "inventory.wal"),
            "DB_ADDR": "localhost:1",
            "INVENTORY_ADDR": "localhost:1",
        }
        print(f"interpreter: {interpreter} -IS   runs: {args.runs}   cpus: {os.cpu_count()}")
        print()
        print(f"| {'service':<28} | min ms | median | p90 ms | max ms |")
        print("|------------------------------|--------|--------|--------|--------|")
        for name in NAMES:
            exe = str(bin_dir / name)
            time_to_ready(exe, env)  # warm the page cache
            print(row(name, [time_to_ready(exe, env) for _ in range(args.runs)]), flush=True)
        time_to_exit(interpreter)
        floor = [time_to_exit(interpreter) for _ in range(args.runs)]
        print(row("floor: python -IS -c pass", floor))
    return 0


if __name__ == "__main__":
    sys.exit(main())
