"""Where a service's binary is: relative paths are tried from the current directory (like a
shell), then from the spec's directory, so specs run from either place."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def find_binary(path: str, spec_dir: Path) -> tuple[str | None, str]:
    """``(resolved path, "")`` or ``(None, what is wrong)``."""
    if "/" not in path:
        found = shutil.which(path)
        return (found, "") if found else (None, f"binary {path!r} not found in PATH")
    candidates = [path] if os.path.isabs(path) else [path, str(spec_dir / path)]
    existing = next((c for c in candidates if os.path.exists(c)), None)
    if existing is None:
        return None, f"binary not found: {path}"
    if os.path.isdir(existing) or not os.access(existing, os.X_OK):
        return None, f"binary is not an executable file: {existing}"
    return existing, ""
