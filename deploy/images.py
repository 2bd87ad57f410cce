"""Building (and pushing) the pipeline's images with the docker SDK.

The images and their Dockerfiles come from ``components/_images.py``, the same place the
components take their ``base_image`` from, so what is built is what the pipeline references.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from components._images import ImageSet
from deploy.package import DeployError

DEFAULT_PLATFORM = "linux/amd64"  # what GKE / Vertex nodes run, also when building on an arm64 laptop


@dataclass(frozen=True)
class BuiltImage:
    reference: str
    dockerfile: str
    image_id: str | None
    pushed: bool


def docker_client():
    """A docker SDK client for the engine in the environment (DOCKER_HOST or the local socket)."""
    import docker

    try:
        return docker.from_env()  # negotiates the API version, so an absent engine fails here
    except docker.errors.DockerException as exc:
        where = os.environ.get("DOCKER_HOST") or "the default socket (unix:///var/run/docker.sock)"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DeployError(
            f"no Docker engine reachable at {where}; start Docker or set DOCKER_HOST ({reason[:160]})"
        ) from exc


def _follow(stream: Iterable[dict], what: str, log: Callable[[str], None]) -> str | None:
    """Relay a build/push progress stream; raise on its first error. Returns the image id of a build."""
    image_id = None
    for item in stream:
        if "error" in item:
            detail = item.get("errorDetail", {}).get("message") or item["error"]
            raise DeployError(f"{what} failed: {str(detail).strip()}")
        if "stream" in item and item["stream"].strip():
            log(item["stream"].rstrip())
        if "aux" in item and isinstance(item["aux"], dict) and "ID" in item["aux"]:
            image_id = item["aux"]["ID"]
    return image_id


def build_images(
    images: ImageSet,
    context: str | Path,
    push: bool = False,
    platform: str = DEFAULT_PLATFORM,
    client=None,
    log: Callable[[str], None] = print,
) -> list[BuiltImage]:
    """Build every image of ``images`` from its Dockerfile in ``context``; push them when asked."""
    context = Path(context)
    client = client or docker_client()
    built = []
    for reference, dockerfile in images.dockerfiles().items():
        if not (context / dockerfile).is_file():
            raise DeployError(f"{context / dockerfile}: Dockerfile not found")
        log(f"building {reference} from {dockerfile}")
        stream = client.api.build(
            path=str(context),
            dockerfile=dockerfile,
            tag=reference,
            platform=platform,
            rm=True,
            pull=True,
            decode=True,
            labels={"org.opencontainers.image.version": images.tag},
        )
        image_id = _follow(stream, f"docker build of {reference}", log)
        built.append(BuiltImage(reference, dockerfile, image_id, pushed=False))
    if push:
        for index, image in enumerate(built):
            repository, _, tag = image.reference.rpartition(":")
            log(f"pushing {image.reference}")
            # Registry credentials come from the engine's client config (docker login / credential helpers).
            _follow(
                client.api.push(repository, tag=tag, stream=True, decode=True),
                f"push of {image.reference}",
                log,
            )
            built[index] = BuiltImage(image.reference, image.dockerfile, image.image_id, pushed=True)
    return built
