"""Build the C launcher: at ``pip install .`` (setup.py) or on first use into a cache dir.

The binary's name carries a hash of launcher.c and the protocol constants, so an edited
source never runs with a stale binary.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from faultbox.intercept.bpf import ACK_READ_LEN, RECORD_LEN
from faultbox.intercept.errors import InterceptUnavailable

_HERE = Path(__file__).resolve().parent
SOURCE = _HERE / "launcher.c"
PACKAGED_DIR = _HERE / "bin"
_lock = threading.Lock()
_cached: Path | None = None


def _defines() -> list[str]:
    return [f"-DRECORD_LEN={RECORD_LEN}", f"-DACK_READ_LEN={ACK_READ_LEN}"]


def source_hash() -> str:
    """Hash of the launcher source and its build-time constants."""
    h = hashlib.sha256(SOURCE.read_bytes())
    h.update(" ".join(_defines()).encode())
    return h.hexdigest()[:16]


def binary_name() -> str:
    """File name of the launcher for the current source."""
    return f"faultbox-launcher-{source_hash()}"


def compile_launcher(dest: Path) -> Path:
    """Compile launcher.c to ``dest`` atomically; ``InterceptUnavailable`` if that fails."""
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if not cc:
        raise InterceptUnavailable(
            "cannot build the seccomp launcher: no C compiler (gcc) found; install gcc, or "
            "install faultbox with gcc present so `pip install .` builds it"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".launcher-", dir=dest.parent)
    os.close(fd)
    cmd = [cc, "-O2", "-Wall", *_defines(), "-o", tmp, str(SOURCE)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise InterceptUnavailable(
                f"cannot build the seccomp launcher ({' '.join(cmd)}): {proc.stderr.strip()}"
            )
        os.chmod(tmp, 0o755)
        os.replace(tmp, dest)  # atomic: concurrent builders never see a half-written file
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def cache_dir() -> Path:
    """Where a launcher built on first use lives (``$XDG_CACHE_HOME/faultbox``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "faultbox"


def launcher_path() -> Path:
    """The launcher for this source: packaged copy, cached copy, or freshly built."""
    global _cached
    if _cached is not None:
        return _cached
    with _lock:
        if _cached is None:
            name = binary_name()
            for candidate in (PACKAGED_DIR / name, cache_dir() / name):
                if os.access(candidate, os.X_OK):
                    _cached = candidate
                    break
            else:
                _cached = compile_launcher(cache_dir() / name)
    return _cached
