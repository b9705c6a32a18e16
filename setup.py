"""Build hook: compile faultbox's native parts into the package (faultbox/intercept/bin/).

* the seccomp launcher (launcher.c) — required; without a C compiler the install still
  succeeds and faultbox builds it on first use (or says why it cannot);
* the same launcher linked statically — the entrypoint wrapper of intercepted containers;
  needs libc.a (libc6-dev), else built (or refused, with the reason) on first use;
* the native supervisor loop, the ``_fastloop`` extension (bindings py_module.c, py_rule.c;
  the GIL-free loop loop.c, loop_glob.c, loop_paths.c) — optional; if it cannot be built
  (no compiler, no Python.h), faultbox tries again on first use and otherwise runs the
  Python reference loop, with a RuntimeWarning.

Everything else about the package lives in pyproject.toml.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildPyWithLauncher(build_py):
    """``build_py`` plus ``bin/faultbox-launcher-<hash>`` and ``bin/_fastloop-<hash><ext>``."""

    def run(self) -> None:
        super().run()
        sys.path.insert(0, str(HERE))
        try:
            from faultbox.intercept import _build
            from faultbox.intercept.errors import InterceptUnavailable
        finally:
            sys.path.pop(0)
        # An editable install (pip install -e, make demo) runs from the source tree: build the
        # binaries there; a wheel gets them in its build directory, with the C headers.
        editable = getattr(self, "editable_mode", False)
        pkg_dir = (HERE if editable else Path(self.build_lib)) / "faultbox" / "intercept"
        bin_dir = pkg_dir / "bin"
        if not editable:
            pkg_dir.mkdir(parents=True, exist_ok=True)
            for header in _build.FASTLOOP_HEADERS:  # for a rebuild on first use
                shutil.copyfile(header, pkg_dir / header.name)
        try:
            _build.compile_launcher(bin_dir / _build.binary_name())
        except InterceptUnavailable as exc:
            self.warn(f"faultbox launcher not built now ({exc}); it will be built on first use")
        try:
            _build.compile_static_launcher(bin_dir / _build.static_binary_name())
        except InterceptUnavailable as exc:
            self.warn(f"faultbox static launcher (containers) not built now ({exc})")
        try:
            _build.compile_fastloop(bin_dir / _build.fastloop_name())
        except InterceptUnavailable as exc:
            self.warn(
                f"faultbox native supervisor loop not built ({exc}); faultbox will try on first "
                "use, else run its Python loop (same decisions, slower)"
            )


class BinaryDistribution(Distribution):
    """The wheel carries a native executable: tag it for the platform."""

    def has_ext_modules(self) -> bool:
        return True


setup(cmdclass={"build_py": BuildPyWithLauncher}, distclass=BinaryDistribution)
