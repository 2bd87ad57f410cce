"""``run-local --runner docker``: every step in the image the cluster runs, through kfp.local.DockerRunner.

The components' command is the cluster's (``install_kfp_package=False``: nothing is pip-installed when
a step starts), and the images are the ones ``images build`` made, referenced exactly as tagged, so
kfp finds them in the engine instead of pulling. What differs from the subprocess runner:

* local paths given on the command line (data, encoder, registry, checkpoints, files to score) are
  bind-mounted into each step's container at the same absolute path; one that does not exist is
  refused with a message naming it (a registry or checkpoint directory is created first);
* the containers run as the invoking user (their files on this disk are that user's) on the host
  network (a ``gs://`` endpoint on loopback, such as ``STORAGE_EMULATOR_HOST``, is reachable);
* a few environment variables pass through (hub offline switches and token, the storage emulator,
  Google credentials - whose file is mounted read-only -, proxies);
* a step's container is removed only after its exit code is read (``run_container``): kfp 2.17's own
  runner starts it with ``auto_remove=True`` and, when the engine removes a fast-failing container
  before ``wait()`` reads its status, reports the step as succeeded (kubeflow/pipelines#13332).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from components._images import ImageSet
from deploy.package import DeployError

PASSED_ENV = (
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_ENDPOINT",
    "HF_TOKEN",
    "STORAGE_EMULATOR_HOST",
    "GOOGLE_CLOUD_PROJECT",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)
CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"


@dataclass
class ContainerPaths:
    """Local paths the steps' containers see, collected while the run's arguments are resolved."""

    mounts: dict[str, bool] = field(default_factory=dict)  # absolute host path -> read-only

    def argument(
        self, flag: str, value: str, writable: bool = False, passthrough: tuple[str, ...] = ()
    ) -> str:
        """The value a step gets for ``value``: an absolute path for a local one, which is then mounted.

        Remote URIs (``gs://``...), ``pkg:`` encoders, the names in ``passthrough`` (e.g. ``sample``)
        and what is no path on this machine (a hub id) go through unchanged. A path that does not
        exist is refused (``writable`` ones, a registry or checkpoint directory, are created).
        """
        if not value or "://" in value or value.startswith("pkg:") or value in passthrough:
            return value
        path = Path(value).expanduser()
        looks_local = path.is_absolute() or value.startswith((".", "~")) or path.exists()
        if not looks_local:
            return value  # a hub id such as cardiffnlp/tweet_eval
        path = path.resolve()
        if not path.exists():
            if not writable:
                raise DeployError(
                    f"{flag} {value}: no such file or directory (local paths are mounted into the "
                    "step containers, so they must exist)"
                )
            path.mkdir(parents=True)
        self.add(path, read_only=not writable)
        return str(path)

    def add(self, path: Path, read_only: bool) -> None:
        key = str(path)
        self.mounts[key] = self.mounts.get(key, True) and read_only

    def docker_mounts(self) -> list:
        from docker.types import Mount

        return [
            Mount(target=path, source=path, type="bind", read_only=read_only)
            for path, read_only in sorted(self.mounts.items())
        ]


def check_images_present(images: ImageSet, client) -> None:
    """Fail with the build command when an image is not in the engine (kfp would try to pull it)."""
    import docker

    missing = []
    for reference in (images.cpu, images.gpu):
        try:
            client.images.get(reference)
        except docker.errors.ImageNotFound:
            missing.append(reference)
    if missing:
        where = os.environ.get("DOCKER_HOST", "the default Docker socket")
        raise DeployError(
            f"{', '.join(missing)} not in the Docker engine at {where}; build them first: "
            f"python pipeline.py images build --registry {images.registry} --tag {images.tag}"
        )


def container_environment(paths: ContainerPaths, environ: dict[str, str] | None = None) -> dict[str, str]:
    environ = dict(os.environ if environ is None else environ)
    passed = {name: environ[name] for name in PASSED_ENV if name in environ}
    credentials = environ.get(CREDENTIALS_ENV)
    if credentials:
        path = Path(credentials).expanduser().resolve()
        if not path.is_file():
            raise DeployError(f"{CREDENTIALS_ENV}={credentials}: no such file")
        paths.add(path, read_only=True)
        passed[CREDENTIALS_ENV] = str(path)
    return passed


def prepare_docker_run(args, arguments: dict):
    """The runner and images for ``run-local --runner docker``; the pipeline ``arguments``' local paths
    made absolute and mounted (the dict is updated in place)."""
    paths = ContainerPaths()
    arguments["data_source"] = paths.argument("--data", arguments["data_source"], passthrough=("sample",))
    arguments["model_name"] = paths.argument("--model", arguments["model_name"])
    for name, writable in (("checkpoint_root", True), ("batch_predict_source", False)):
        flag = "--" + name.replace("_", "-")
        arguments[name] = paths.argument(flag, arguments[name], writable=writable)
    if not arguments["registry_uri"].startswith("gs://"):
        arguments["registry_uri"] = paths.argument("--registry", arguments["registry_uri"], writable=True)
    images = ImageSet(args.image_registry, args.tag)
    return docker_runner(images, paths), images


def run_container(client, image: str, command: list[str], volumes: dict, **container_run_args) -> int:
    """kfp.local's ``run_docker_container`` with the step's real exit code: the container is kept until
    ``wait()`` has read it, then removed (kfp starts it with ``auto_remove=True``, and a ``NotFound``
    from a container the engine already removed counts there as success: kubeflow/pipelines#13332,
    fixed by the unmerged pull requests #13402 and #13907). The console lines are kfp's own."""
    import docker
    from kfp.local.docker_task_handler import add_latest_tag_if_not_present

    image = add_latest_tag_if_not_present(image)  # present: check_images_present ran before the run
    print(f"Found image {image!r}\n")
    container = client.containers.run(
        image=image,
        command=command,
        detach=True,
        stdout=True,
        stderr=True,
        volumes=volumes,
        **container_run_args,
    )
    try:
        for line in container.logs(stream=True):
            print(line.decode(), end="")
        return container.wait()["StatusCode"]
    finally:
        with contextlib.suppress(docker.errors.APIError):  # the status is read; cleanup cannot change it
            container.remove(force=True)


def use_exit_code_preserving_runner() -> None:
    """Route kfp.local's DockerRunner tasks through ``run_container`` (kfp looks the function up in its
    module on every task). Called when a docker run is prepared, never at import."""
    from kfp.local import docker_task_handler

    docker_task_handler.run_docker_container = run_container


def docker_runner(images: ImageSet, paths: ContainerPaths):
    """A kfp.local.DockerRunner for the run: the images checked, mounts, user, network, environment."""
    from kfp import local

    from deploy.images import docker_client

    check_images_present(images, docker_client())
    use_exit_code_preserving_runner()
    environment = container_environment(paths)
    return local.DockerRunner(
        mounts=paths.docker_mounts(),
        user=f"{os.getuid()}:{os.getgid()}",
        network_mode="host",
        environment=environment,
    )
