"""The one place that names the container images the components run in.

One image per dependency set: the CPU runtime serves preprocess, evaluate and register;
the CUDA runtime serves train; the serving image runs the model server (no component: it is what
``models deploy`` puts behind a KServe InferenceService or a Vertex AI endpoint). ``images/`` holds
their Dockerfiles and
``python pipeline.py images build`` builds exactly the images named here.

The module constants are the defaults the components are decorated with. A different
registry or tag (``compile --image-registry R --tag T``) is applied when the pipeline is
built, through ``ImageSet`` and ``with_image``; nothing here reads the environment.
"""

from __future__ import annotations

from dataclasses import dataclass

IMAGE_REGISTRY = "ghcr.io/tweet-sentiment"
IMAGE_TAG = "0.2.0"
CPU_IMAGE_NAME = "tweet-sentiment-cpu"
GPU_IMAGE_NAME = "tweet-sentiment-gpu"
# Not a component's: the model server of a registered version (KServe, Vertex AI endpoints, docker run).
SERVE_IMAGE_NAME = "tweet-sentiment-serve"
IMAGE_KINDS = ("cpu", "gpu", "serve")  # ImageSet's properties, one per image (images build --only)
# Dockerfiles, relative to the repository root (which is the build context).
CPU_DOCKERFILE = "images/cpu.Dockerfile"
GPU_DOCKERFILE = "images/gpu.Dockerfile"
SERVE_DOCKERFILE = "images/serve.Dockerfile"


@dataclass(frozen=True)
class ImageSet:
    """Registry and tag of the pipeline's images; ``cpu``/``gpu``/``serve`` are the full references."""

    registry: str = IMAGE_REGISTRY
    tag: str = IMAGE_TAG

    def __post_init__(self) -> None:
        if not self.registry or self.registry.endswith("/") or " " in self.registry:
            raise ValueError(f"image registry {self.registry!r} must be like 'REGISTRY_HOST/PROJECT'")
        if not self.tag or ":" in self.tag or "/" in self.tag or " " in self.tag:
            raise ValueError(f"image tag {self.tag!r} must be a plain tag such as '0.2.0'")

    @property
    def cpu(self) -> str:
        return f"{self.registry}/{CPU_IMAGE_NAME}:{self.tag}"

    @property
    def gpu(self) -> str:
        return f"{self.registry}/{GPU_IMAGE_NAME}:{self.tag}"

    @property
    def serve(self) -> str:
        return f"{self.registry}/{SERVE_IMAGE_NAME}:{self.tag}"

    def dockerfiles(self) -> dict[str, str]:
        """Image reference -> Dockerfile that builds it."""
        return {self.cpu: CPU_DOCKERFILE, self.gpu: GPU_DOCKERFILE, self.serve: SERVE_DOCKERFILE}


DEFAULT_IMAGES = ImageSet()
CPU_IMAGE = DEFAULT_IMAGES.cpu
GPU_IMAGE = DEFAULT_IMAGES.gpu


def with_image(component, image: str):
    """The same component re-decorated to run in ``image``.

    ``@dsl.component(base_image=...)`` fixes the image at import time; re-decorating the
    component's python function is the supported way to get the identical component in
    another image (the decorated original is left untouched).
    """
    from kfp import dsl

    if component.component_spec.implementation.container.image == image:
        return component
    return dsl.component(func=component.python_func, base_image=image, install_kfp_package=False)
