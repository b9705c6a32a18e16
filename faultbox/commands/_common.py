"""What several commands share: the error exit and the output-path checks."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

import click


def die(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit (1: usage or spec error)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def check_output_paths(*paths: str | None) -> None:
    """Refuse unwritable output files before running anything, not after the whole suite."""
    for path in paths:
        if not path:
            continue
        parent = Path(path).resolve().parent
        if not parent.is_dir():
            die(f"cannot write {path}: directory {parent} does not exist")
        if not os.access(parent, os.W_OK) or (Path(path).exists() and not os.access(path, os.W_OK)):
            die(f"cannot write {path}: permission denied")
