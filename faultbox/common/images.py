"""Images for ``image=`` / ``build=`` services: present locally, pulled, or built.

:func:`ensure_image` is called when the spec is loaded (at the ``service()`` line): an image
that is neither local nor pullable is a load error naming it, like a missing binary.
:func:`build_image` builds a ``build=`` directory once per content (the tag carries a hash of
the directory's files, so an unchanged directory is not rebuilt, and the engine's layer cache
makes a changed one cheap). :func:`image_command` gives the image's entrypoint and command,
which the runtime needs to wrap them (interception) and to let ``args=`` replace the command.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from . import docker_engine

BUILD_REPOSITORY = "faultbox-build"
LABEL_CONTENT = "faultbox.content-hash"


class ImageProblem(Exception):
    """An image cannot be had (not local, not pullable, build failed); the message says why."""


def _short(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def ensure_image(image: str) -> None:
    """Make ``image`` available locally: keep it if present, else pull it (raises ImageProblem)."""
    import docker.errors  # third-party: only specs with image= load the SDK

    images = docker_engine.client().images
    try:
        images.get(image)
        return
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.APIError as exc:
        raise ImageProblem(
            f"image {image!r}: the engine failed to look it up: {_short(exc)}"
        ) from None
    repo, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
    try:
        images.pull(repo, tag=tag or "latest")
    except Exception as exc:  # no registry reachable, unknown name, auth, ...
        raise ImageProblem(
            f"image {image!r} is not on this engine and could not be pulled ({_short(exc)}); "
            "build it locally (docker build -t ...) or use build= with a Dockerfile directory"
        ) from None


def content_hash(directory: Path) -> str:
    """A hash of every file's relative path and bytes under ``directory`` (sorted walk)."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            path = Path(root, name)
            digest.update(str(path.relative_to(directory)).encode() + b"\0")
            digest.update(
                path.read_bytes() if not path.is_symlink() else os.readlink(path).encode()
            )
    return digest.hexdigest()[:16]


def build_image(service: str, directory: Path) -> str:
    """Build ``directory`` (a Dockerfile in it) as ``faultbox-build/<service>:<hash>``; the tag.

    Built with the host's network (the engine may have no bridge) and the engine's layer cache.
    """
    if not (directory / "Dockerfile").is_file():
        raise ImageProblem(f"build={str(directory)!r}: no Dockerfile in that directory")
    tag = f"{BUILD_REPOSITORY}/{service.lower()}:{content_hash(directory)}"
    images = docker_engine.client().images
    try:
        images.get(tag)
        return tag
    except Exception:  # not built yet
        pass
    try:
        images.build(
            path=str(directory),
            tag=tag,
            network_mode="host",
            rm=True,
            forcerm=True,
            labels={LABEL_CONTENT: tag.rsplit(":", 1)[1]},
        )
    except Exception as exc:  # docker.errors.BuildError carries the failing step's log
        log = getattr(exc, "build_log", None) or []
        tail = "".join(str(e.get("stream", "") or e.get("error", "")) for e in log)[-600:]
        raise ImageProblem(
            f"build={str(directory)!r}: docker build failed: {_short(exc)}"
            + (f"\n{tail.strip()}" if tail.strip() else "")
        ) from None
    return tag


def image_command(image: str) -> tuple[list[str], list[str]]:
    """The image's ``(Entrypoint, Cmd)`` (either may be empty)."""
    attrs: dict[str, Any] = docker_engine.client().images.get(image).attrs
    config = attrs.get("Config") or {}
    return list(config.get("Entrypoint") or []), list(config.get("Cmd") or [])
