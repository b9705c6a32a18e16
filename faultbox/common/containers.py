"""Load-time checks of container services (``service(..., image=…)`` / ``build=…``).

``service()`` calls :func:`resolve_image` at the spec line that declares the service, so what
would otherwise fail at start — no engine, an image that is neither local nor pullable, a
``build=`` directory that does not build — is a load error with ``file:line`` and what to do.
:func:`parse_volume` checks one ``volumes=`` entry.
"""

from __future__ import annotations

from pathlib import Path

from . import docker_engine, images


class ContainerSpecProblem(Exception):
    """What is wrong with a container service's declaration; the message says what to do."""


def resolve_image(name: str, image: str, build: str, spec_dir: Path) -> str:
    """The image tag to run for service ``name``: ``image`` (made available locally) or the
    tag built from ``build`` (a Dockerfile directory, relative to the spec's directory)."""
    problem = docker_engine.engine_problem()
    what = f"image={image!r}" if image else f"build={build!r}"
    if problem:
        raise ContainerSpecProblem(f"service({name!r}): {what} needs a Docker engine: {problem}")
    try:
        if build:
            directory = Path(build) if Path(build).is_absolute() else spec_dir / build
            if not directory.is_dir():
                raise ContainerSpecProblem(
                    f"service({name!r}): build={build!r}: no such directory ({directory})"
                )
            return images.build_image(name, directory)
        images.ensure_image(image)
        return image
    except images.ImageProblem as exc:
        raise ContainerSpecProblem(f"service({name!r}): {exc}") from None
    except docker_engine.EngineUnavailable as exc:
        raise ContainerSpecProblem(f"service({name!r}): {what}: {exc}") from None


def parse_volume(name: str, host: str, target: str) -> tuple[str, str, str]:
    """``volumes={"host/path": "/in/container[:ro]"}`` → ``(host, container path, "rw"|"ro")``."""
    mode = "rw"
    for suffix in (":ro", ":rw"):
        if target.endswith(suffix):
            target, mode = target[: -len(suffix)], suffix[1:]
    if not target.startswith("/"):
        raise ContainerSpecProblem(
            f"service({name!r}): volumes[{host!r}]: the container path {target!r} must be "
            'absolute, e.g. volumes={"./data": "/data"} or "/data:ro"'
        )
    if not host:
        raise ContainerSpecProblem(f"service({name!r}): volumes: an empty host path")
    return host, target, mode
