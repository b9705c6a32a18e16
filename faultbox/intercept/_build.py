"""Build the native parts: at ``pip install .`` (setup.py) or on first use into a cache dir.

Two artifacts, both named with a hash of their sources and build constants so an edited
source never runs with a stale binary:

* the launcher executable (``launcher.c``) — required for interception;
* the same launcher linked statically (``-static``, no ``--user``) — the entrypoint wrapper
  bind-mounted into containers, which may have no libc or another one
  (container_handoff.py); built when first needed if ``pip install .`` could not;
* the ``_fastloop`` extension — optional: without it the supervisor runs its Python
  reference loop (slower, same decisions).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sysconfig
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from faultbox.intercept.bpf import ACK_READ_LEN, RECORD_LEN
from faultbox.intercept.errors import InterceptUnavailable

_HERE = Path(__file__).resolve().parent
SOURCE = _HERE / "launcher.c"
# The extension's C files: ``py_*`` are the Python bindings (need the GIL), ``loop*`` the loop
# that runs with the GIL released.
FASTLOOP_SOURCES = tuple(
    _HERE / n for n in ("py_module.c", "py_rule.c", "loop.c", "loop_glob.c", "loop_paths.c")
)
FASTLOOP_HEADERS = tuple(
    _HERE / n for n in ("alloc.h", "py_rule.h", "loop.h", "loop_glob.h", "loop_paths.h")
)
PACKAGED_DIR = _HERE / "bin"
CFLAGS = ["-O2", "-Wall", "-Wextra"]
STATIC_FLAGS = ["-static", "-DLAUNCHER_STATIC"]
_lock = threading.Lock()
_cached: Path | None = None
_cached_static: Path | None = None


def _defines() -> list[str]:
    return [f"-DRECORD_LEN={RECORD_LEN}", f"-DACK_READ_LEN={ACK_READ_LEN}"]


def _hash(files: tuple[Path, ...], extra: str) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    h.update(extra.encode())
    return h.hexdigest()[:16]


def source_hash() -> str:
    """Hash of the launcher source and its build-time constants."""
    return _hash((SOURCE,), " ".join(_defines()))


def binary_name() -> str:
    """File name of the launcher for the current source."""
    return f"faultbox-launcher-{source_hash()}"


def static_binary_name() -> str:
    """File name of the static launcher (the container entrypoint wrapper)."""
    return f"faultbox-launcher-static-{_hash((SOURCE,), ' '.join(_defines() + STATIC_FLAGS))}"


def fastloop_name() -> str:
    """File name of the extension for the current sources and this Python's ABI."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    digest = _hash(FASTLOOP_SOURCES + FASTLOOP_HEADERS, " ".join(CFLAGS) + suffix)
    return f"_fastloop-{digest}{suffix}"


def _compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")


def _compile(args: list[str], dest: Path, what: str) -> Path:
    """Run the compiler writing to a temp file, then rename atomically to ``dest``."""
    cc = _compiler()
    if not cc:
        raise InterceptUnavailable(
            f"cannot build the {what}: no C compiler (gcc) found; install gcc, or "
            "install faultbox with gcc present so `pip install .` builds it"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}-", dir=dest.parent)
    os.close(fd)
    cmd = [cc, *CFLAGS, *args, "-o", tmp]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise InterceptUnavailable(
                f"cannot build the {what} ({' '.join(cmd)}): {proc.stderr.strip()}"
            )
        os.chmod(tmp, 0o755)
        os.replace(tmp, dest)  # atomic: concurrent builders never see a half-written file
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def compile_launcher(dest: Path) -> Path:
    """Compile launcher.c to ``dest``; ``InterceptUnavailable`` if that fails."""
    return _compile([*_defines(), str(SOURCE)], dest, "seccomp launcher")


def compile_static_launcher(dest: Path) -> Path:
    """Compile launcher.c statically to ``dest`` (needs libc.a: Debian's libc6-dev)."""
    return _compile([*STATIC_FLAGS, *_defines(), str(SOURCE)], dest, "static seccomp launcher")


def compile_fastloop(dest: Path) -> Path:
    """Compile the ``_fastloop`` extension to ``dest``; ``InterceptUnavailable`` on failure."""
    include = sysconfig.get_paths()["include"]
    if not os.path.exists(os.path.join(include, "Python.h")):
        raise InterceptUnavailable(f"cannot build the native supervisor: no Python.h in {include}")
    args = ["-fPIC", "-shared", "-pthread", f"-I{include}", *map(str, FASTLOOP_SOURCES)]
    return _compile(args, dest, "native supervisor loop")


def cache_dir() -> Path:
    """Where artifacts built on first use live (``$XDG_CACHE_HOME/faultbox``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "faultbox"


def _find_or_build(name: str, build: Callable[[Path], Path], mode: int) -> Path:
    for candidate in (PACKAGED_DIR / name, cache_dir() / name):
        if os.access(candidate, mode):
            return candidate
    return build(cache_dir() / name)


def launcher_path() -> Path:
    """The launcher for this source: packaged copy, cached copy, or freshly built."""
    global _cached
    if _cached is not None:
        return _cached
    with _lock:
        if _cached is None:
            _cached = _find_or_build(binary_name(), compile_launcher, os.X_OK)
    return _cached


def static_launcher_path() -> Path:
    """The static launcher for this source: packaged copy, cached copy, or freshly built."""
    global _cached_static
    with _lock:
        if _cached_static is None:
            _cached_static = _find_or_build(static_binary_name(), compile_static_launcher, os.X_OK)
        return _cached_static


def fastloop_path() -> Path:
    """The extension for these sources: packaged, cached, or freshly built (may raise)."""
    with _lock:
        return _find_or_build(fastloop_name(), compile_fastloop, os.R_OK)
