"""A Python base image made from Debian packages, for builders that cannot pull from a registry.

``python pipeline.py images base --tag localhost/python-base:3.11-bookworm`` runs ``mmdebstrap`` against
the Debian mirror this machine's apt already uses (read from its sources at run time), puts this
machine's extra CA certificates in (``/usr/local/share/ca-certificates``: HTTPS through a re-signing
proxy then verifies inside the image, pip included), gives it a virtual environment on ``PATH`` (so
``pip install`` works as in Docker Hub's ``python:*-slim`` images, which the Dockerfiles assume), and
imports the tree into the Docker engine. The images' Dockerfiles take it as ``BASE_IMAGE``.

The image carries a label with a hash of its inputs (suite, packages, apt sources, certificates, this
recipe); when an image with that tag and label exists, it is reused instead of rebuilt.
"""

from __future__ import annotations

import hashlib
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deploy.package import DeployError

SUITE = "bookworm"  # Debian 12: Python 3.11, the version the project and the slim image use
PACKAGES = ("python3", "python3-venv", "ca-certificates")
VENV = "/opt/venv"
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")
INPUTS_LABEL = "org.tweet-sentiment.base-inputs"
# Bumped when the recipe below changes, so that older images are not reused.
RECIPE_VERSION = "1"
# What the image says about itself, as Docker Hub's python image does (PATH first of all).
IMAGE_CHANGES = (
    f"ENV PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    f"ENV VIRTUAL_ENV={VENV}",
    'CMD ["python3"]',
)


@dataclass(frozen=True)
class BaseImage:
    reference: str
    image_id: str
    size_bytes: int
    reused: bool


def host_apt_sources(suite: str = SUITE, roots: tuple[Path, ...] = APT_SOURCES) -> list[Path]:
    """The apt source files of this machine that name ``suite`` (one-line .list or deb822 .sources)."""
    candidates: list[Path] = []
    for root in roots:
        if root.is_file():
            candidates.append(root)
        elif root.is_dir():
            candidates += sorted(p for p in root.iterdir() if p.suffix in (".list", ".sources"))
    found = []
    for path in candidates:
        lines = [line.split("#", 1)[0] for line in path.read_text().splitlines()]
        if any(suite in line.split() for line in lines if line.strip()):
            found.append(path)
    if not found:
        where = ", ".join(str(r) for r in roots)
        raise DeployError(f"no apt source for Debian {suite} in {where}: mmdebstrap needs a mirror")
    return found


def extra_ca_certificates(directory: Path = EXTRA_CA_DIR) -> list[Path]:
    """This machine's locally added CA certificates (update-ca-certificates takes *.crt)."""
    return sorted(directory.rglob("*.crt")) if directory.is_dir() else []


def _inputs_hash(suite: str, sources: list[Path], certificates: list[Path]) -> str:
    digest = hashlib.sha256()
    for part in (RECIPE_VERSION, suite, *PACKAGES, *IMAGE_CHANGES):
        digest.update(part.encode() + b"\0")
    for path in (*sources, *certificates):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:24]


def mmdebstrap_command(suite: str, sources: list[Path], certificates: list[Path], target: Path) -> list[str]:
    """The mmdebstrap call: minbase + Python, no docs, the CA certificates, a venv, pip on the system CAs."""
    hooks = []
    if certificates:
        copy = " ".join(shlex.quote(str(c)) for c in certificates)
        into = '"$1/usr/local/share/ca-certificates"'
        hooks.append(f'mkdir -p {into} && cp {copy} {into}/ && chroot "$1" update-ca-certificates')
    hooks.append(f'chroot "$1" python3 -m venv {VENV}')
    # pip verifies against the system bundle, which now holds the extra certificates (certifi does not).
    hooks.append('printf "[global]\\ncert = /etc/ssl/certs/ca-certificates.crt\\n" > "$1/etc/pip.conf"')
    command = [
        "mmdebstrap",
        "--variant=minbase",
        "--include=" + ",".join(PACKAGES),
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    ]
    command += [f"--customize-hook={hook}" for hook in hooks]
    return command + [suite, str(target), *(str(s) for s in sources)]


def _existing(client, reference: str):
    import docker

    try:
        return client.images.get(reference)
    except docker.errors.ImageNotFound:
        return None


def build_base_image(
    reference: str,
    suite: str = SUITE,
    client=None,
    log: Callable[[str], None] = print,
    reuse: bool = True,
) -> BaseImage:
    """Make ``reference`` from Debian packages with mmdebstrap and import it into the engine."""
    from deploy.images import docker_client

    if ":" not in reference.rsplit("/", 1)[-1]:
        raise DeployError(f"{reference!r} needs a tag, e.g. localhost/python-base:3.11-{suite}")
    if shutil.which("mmdebstrap") is None:
        raise DeployError(
            "mmdebstrap not found: install it (Debian/Ubuntu: apt-get install mmdebstrap), "
            "or build with a registry's base image (images build --base-image python:3.11-slim-bookworm)"
        )
    client = client or docker_client()
    sources = host_apt_sources(suite)
    certificates = extra_ca_certificates()
    inputs = _inputs_hash(suite, sources, certificates)
    current = _existing(client, reference)
    if reuse and current is not None and current.labels.get(INPUTS_LABEL) == inputs:
        log(f"{reference} is up to date (inputs {inputs})")
        return BaseImage(reference, current.id, current.attrs["Size"], reused=True)
    log(f"mmdebstrap: Debian {suite} from {', '.join(map(str, sources))}; {len(certificates)} extra CA certs")
    with tempfile.TemporaryDirectory(prefix="python-base-") as workdir:
        rootfs = Path(workdir) / "rootfs.tar"
        command = mmdebstrap_command(suite, sources, certificates, rootfs)
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            tail = "\n".join(result.stdout.strip().splitlines()[-15:])
            raise DeployError(f"mmdebstrap failed (exit {result.returncode}):\n{tail}")
        log(f"importing {rootfs.stat().st_size / 1e6:.0f} MB root file system as {reference}")
        repository, _, tag = reference.rpartition(":")
        changes = [*IMAGE_CHANGES, f"LABEL {INPUTS_LABEL}={inputs}"]
        client.api.import_image_from_file(str(rootfs), repository=repository, tag=tag, changes=changes)
    image = client.images.get(reference)
    return BaseImage(reference, image.id, image.attrs["Size"], reused=False)
