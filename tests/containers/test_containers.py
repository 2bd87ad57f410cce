"""The container tier (`pytest -m containers`): the real images, built for real, the pipeline run in them.

Needs a Docker engine (one is started with scripts/private-dockerd.sh when none answers: root and
Debian's docker.io) and mmdebstrap for the base image. The base and both images are built once per
session through the project's own commands (`images base`, `images build`); unchanged inputs reuse the
base (its inputs label) and the engine's layer cache, so a rerun takes seconds to rebuild nothing.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

import pipeline
from components._images import ImageSet
from deploy.docker_run import use_exit_code_preserving_runner
from deploy.local_run import LOG_FILE
from tests.containers.build import BASE_IMAGE, IMAGES, ROOT, host_cpu_torch_wheel, run_cli
from tests.fakes.tweets import make_tweets, write_jsonl

pytestmark = pytest.mark.containers


@pytest.fixture(scope="session")
def images(engine, tmp_path_factory):
    assert run_cli(["images", "base", "--tag", BASE_IMAGE]) == 0
    build = [
        "images",
        "build",
        "--registry",
        IMAGES.registry,
        "--tag",
        IMAGES.tag,
        "--base-image",
        BASE_IMAGE,
        "--offline-encoder",
    ]
    wheel = host_cpu_torch_wheel(tmp_path_factory)
    assert run_cli(build + (["--torch-wheel", wheel] if wheel else [])) == 0
    return IMAGES


def _run(engine, image: str, command: list[str], **kwargs) -> str:
    output = engine.containers.run(image, command, remove=True, stdout=True, stderr=True, **kwargs)
    return output.decode()


@pytest.mark.parametrize("kind", ["cpu", "gpu"])
def test_image_runs_as_a_non_root_user_and_imports_the_package(engine, images, kind):
    image = getattr(images, kind)
    out = _run(
        engine,
        image,
        ["python3", "-c", "import os, kfp, torch, tweet_sentiment; print(os.getuid(), torch.__version__)"],
    )
    uid, version = out.split()
    assert uid != "0"
    assert version.startswith("2.13.0")
    user = engine.images.get(image).attrs["Config"]["User"]
    assert user and user.split(":")[0] not in ("0", "root")


@pytest.mark.parametrize("kind", ["cpu", "gpu"])
@pytest.mark.parametrize("user", [None, "4242:4242"], ids=["image-user", "any-uid"])
def test_caches_are_writable(engine, images, kind, user):
    probe = (
        "import os, pathlib\n"
        "for name in ('HF_HOME', 'MPLCONFIGDIR'):\n"
        "    d = pathlib.Path(os.environ[name]) / 'hub'\n"
        "    d.mkdir(parents=True, exist_ok=True)\n"
        "    (d / 'probe').write_text('ok')\n"
        "print('written')\n"
    )
    kwargs = {"user": user} if user else {}
    assert _run(engine, getattr(images, kind), ["python3", "-c", probe], **kwargs).strip() == "written"


@pytest.mark.parametrize("kind", ["cpu", "gpu"])
def test_image_holds_no_tests_sources_wheels_caches_compilers_or_credentials(engine, images, kind):
    leftovers = " -o ".join(
        f"-name {name!r}"
        for name in (
            ".git",
            "*.whl",
            ".netrc",
            ".git-credentials",
            "application_default_credentials.json",
            "credentials.db",
            ".pypirc",
        )
    )
    # Third-party packages ship their own tests (some named like ours): look for ours outside them.
    ours = " -o ".join(
        f"-name {p.name!r}"
        for p in sorted((ROOT / "tests").rglob("*.py"))
        if p.name.startswith(("test_", "conftest"))
    )
    package = "/opt/tweet-sentiment/lib/python3.11/site-packages/tweet_sentiment"
    script = "\n".join(
        [
            # /usr/share/python-wheels: Debian's pip/setuptools wheels for `python3 -m venv` (the base's).
            "find / -xdev -path /usr/share/python-wheels -prune -o "
            f"\\( {leftovers} -o -path '*/.cache/pip' -o -path /root/.docker \\) -print",
            f"find / -xdev -path '*/site-packages' -prune -o \\( {ours} \\) -type f -print",
            f"find {package} -name 'test_*.py' -o -name conftest.py -o -type d -name tests",
            "command -v gcc cc g++ c++ make",
            "ls -d /src /staging /tmp/wheelhouse /tmp/requirements.txt /tmp/pyproject.toml 2>/dev/null",
            "true",
        ]
    )
    found = _run(engine, getattr(images, kind), ["bash", "-c", script], user="0").split()
    assert found == [], found
    assert _run(engine, getattr(images, kind), ["ls", package]).split(), "the package is not installed"


def test_gpu_image_has_cuda_torch_and_sees_no_gpu_here(engine, images):
    out = _run(
        engine,
        images.gpu,
        ["python3", "-c", "import torch; print(torch.version.cuda, torch.cuda.is_available())"],
    )
    cuda, available = out.split()
    assert cuda not in ("None", "") and available == "False"
    out = _run(engine, images.cpu, ["python3", "-c", "import torch; print(torch.version.cuda)"])
    assert out.strip() == "None"


def _docker_run_args(images: ImageSet, tmp_path: Path, registry: str) -> list[str]:
    return [
        "run-local",
        "--runner",
        "docker",
        "--image-registry",
        images.registry,
        "--tag",
        images.tag,
        "--registry",
        registry,
        "--pipeline-root",
        str(tmp_path / "root"),
    ]


def test_whole_pipeline_in_the_images_registers_a_loadable_version(engine, images, tmp_path, capsys):
    """The embedded default (sample data, packaged encoder baked into the images), every step in a
    container: train runs in the CUDA image on this GPU-less machine."""
    registry = tmp_path / "reg"
    args = _docker_run_args(images, tmp_path, str(registry))
    # The run-local defaults on the sample: lr 5e-5, 3 epochs raised to 6 by min_steps (at 3 the gate fails).
    assert run_cli(args) == 0
    out = capsys.readouterr().out
    # kfp.local's own lines (which image each task ran in) go to the run's log file, not the console.
    (log,) = (tmp_path / "root").glob(f"*/{LOG_FILE}")
    logged = log.read_text(encoding="utf-8")
    assert f"Found image '{images.gpu}'" in logged and f"Found image '{images.cpu}'" in logged
    assert "gate: PASSED" in out
    version = registry / "versions" / "000001"
    assert f"registered: version 1 at {version}" in out
    from transformers import pipeline as hf_pipeline

    classify = hf_pipeline("text-classification", model=str(version / "model"))
    assert classify("what a lovely day")[0]["label"] in {"negative", "neutral", "positive"}


def test_bad_data_fails_in_preprocess_with_the_subprocess_runners_error(engine, images, tmp_path, capsys):
    data = tmp_path / "data"
    rows = make_tweets(60, seed=3)
    write_jsonl(data / "train.jsonl", rows[:40])
    write_jsonl(data / "test.jsonl", rows[40:])
    (data / "test.jsonl").write_text((data / "test.jsonl").read_text() + "{not json\n" * 5)
    common = ["--data", str(data), "--max-bad-fraction", "0.0"]

    def error_lines(argv: list[str]) -> list[str]:
        assert pipeline.main(argv) == 1
        err = capsys.readouterr().err
        return [line.strip() for line in err.splitlines() if line.strip()]

    sub = error_lines(
        ["run-local", *common, "--registry", str(tmp_path / "r1"), "--pipeline-root", str(tmp_path / "p1")]
    )
    dock = error_lines([*_docker_run_args(images, tmp_path, str(tmp_path / "r2")), *common])

    def same_run(line: str, root: Path) -> str:
        """The line with its own run folder (pipeline root, timestamped run) named alike."""
        assert str(root) in line, line  # the quarantine file lies in this run's folder
        return re.sub(r"tweet-sentiment-training-[0-9-]+", "RUN", line.replace(str(root), "ROOT"))

    assert same_run(sub[-1], tmp_path / "p1") == same_run(dock[-1], tmp_path / "root"), (sub, dock)
    assert sub[-1].endswith("quarantine.jsonl"), sub[-1]
    assert dock[-1].startswith(f"pipeline failed in task 'preprocess': {data}: 5 bad row(s)"), dock[-1]
    assert not list((tmp_path / "r2").glob("versions/*"))


def test_a_step_whose_container_is_gone_before_its_status_is_read_still_fails(
    engine, images, tmp_path, monkeypatch
):
    """kubeflow/pipelines#13332 made certain rather than left to a loaded machine: ``wait()`` is slowed,
    so the engine has long finished with the exited container when its exit code is asked for (kfp's
    own runner has removed it by then and reports the step as succeeded: CI saw that once)."""
    import docker.models.containers
    from kfp import local
    from kfp.local import docker_task_handler
    from kfp.local.status import Status

    real_wait = docker.models.containers.Container.wait

    def slow_wait(container, *args, **kwargs):
        time.sleep(2)
        return real_wait(container, *args, **kwargs)

    monkeypatch.setattr(docker.models.containers.Container, "wait", slow_wait)
    # put kfp's function back after the test, whatever use_exit_code_preserving_runner installs
    monkeypatch.setattr(docker_task_handler, "run_docker_container", docker_task_handler.run_docker_container)
    use_exit_code_preserving_runner()

    def leftovers() -> set[str]:
        return {c.id for c in engine.containers.list(all=True, filters={"ancestor": images.cpu})}

    before = leftovers()
    step = docker_task_handler.DockerTaskHandler(
        image=images.cpu,
        full_command=["sh", "-c", "echo failing; exit 3"],
        pipeline_root=str(tmp_path),
        runner=local.DockerRunner(),
    )
    assert step.run() == Status.FAILURE
    assert leftovers() == before  # removed once its status was read


def test_gs_registry_through_the_storage_emulator(
    engine, images, tmp_path, raw_data_dir, tiny_model_dir, capsys
):
    """A gs:// registry on loopback (containers on the host network); local data and encoder, mounted."""
    from tests.fakes.gcs_emulator import running_emulator
    from tweet_sentiment.core.storage import gcs_client

    tiny = [
        "--epochs",
        "10",
        "--lr",
        "6e-3",
        "--force-learning-rate",
        "--max-length",
        "32",
        "--min-accuracy",
        "0.0",
    ]
    with running_emulator():
        client = gcs_client()
        client.create_bucket("models")
        args = _docker_run_args(images, tmp_path, "gs://models/tweet-sentiment")
        code = run_cli([*args, "--data", str(raw_data_dir), "--model", str(tiny_model_dir), *tiny])
        out = capsys.readouterr().out
        assert code == 0, out[-3000:]
        prefix = "tweet-sentiment/versions/000001/"
        names = {blob.name for blob in client.list_blobs("models", prefix=prefix)}
    assert "registered: version 1 at gs://models/tweet-sentiment/versions/000001" in out
    assert any(name.endswith("model/config.json") for name in names), sorted(names)[:20]
