"""Build hook: compile the seccomp launcher (faultbox/intercept/launcher.c) into the package.

Everything else about the package lives in pyproject.toml. Without a C compiler the install
still succeeds; faultbox then builds the launcher on first use (or says why it cannot).
"""

from __future__ import annotations

import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildPyWithLauncher(build_py):
    """``build_py`` plus ``faultbox/intercept/bin/faultbox-launcher-<hash>``."""

    def run(self) -> None:
        super().run()
        sys.path.insert(0, str(HERE))
        try:
            from faultbox.intercept import _build
            from faultbox.intercept.errors import InterceptUnavailable
        finally:
            sys.path.pop(0)
        dest = Path(self.build_lib) / "faultbox" / "intercept" / "bin" / _build.binary_name()
        try:
            _build.compile_launcher(dest)
        except InterceptUnavailable as exc:
            self.warn(f"faultbox launcher not built now ({exc}); it will be built on first use")


class BinaryDistribution(Distribution):
    """The wheel carries a native executable: tag it for the platform."""

    def has_ext_modules(self) -> bool:
        return True


setup(cmdclass={"build_py": BuildPyWithLauncher}, distclass=BinaryDistribution)
