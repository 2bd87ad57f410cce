"""What ``submit`` and ``schedule`` share: the target flags, the package they send, the pipeline
arguments (parsed, then checked by the preflight before any request) and the clients' targets."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from components._images import DEFAULT_IMAGES, ImageSet
from deploy.package import DeployError, PipelinePackage, load_package, parse_param_flags, without_caching
from deploy.placement import add_placement_flags, placement_from_args


class HelpFormat(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default (unless it says it already, or there is none)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            "default" in text
            or not action.option_strings
            or action.default in (None, False, argparse.SUPPRESS)
        ):
            return text
        return f"{text} (default: %(default)s)"


def apply_help_format(parser: argparse.ArgumentParser) -> None:
    """:class:`HelpFormat` for ``parser`` and every sub-command under it."""
    parser.formatter_class = HelpFormat
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                apply_help_format(sub)


CompileFn = Callable[..., Path]  # (target, images, output, placement) -> the compiled package
PLACEHOLDER_MARK = "YOUR_"  # what the example schedule files hold where a bucket or project goes


def add_connection_flags(cmd) -> None:
    """Where the Kubeflow host or the Vertex AI project is (every submit / schedule action)."""
    kfp = cmd.add_argument_group("kubeflow")
    kfp.add_argument(
        "--host", help="KFP API endpoint, e.g. https://HOST/pipeline (default: $KF_PIPELINES_ENDPOINT)"
    )
    kfp.add_argument("--namespace", help="user namespace of a multi-user KFP (default: none)")
    vertex = cmd.add_argument_group("vertex")
    vertex.add_argument("--project", help="Google Cloud project (default: none; required for vertex)")
    vertex.add_argument("--region", default="us-central1", help="Vertex AI region")


def add_image_flags(cmd) -> None:
    """--image-registry and --tag of the component images (compile, submit, schedule)."""
    cmd.add_argument(
        "--image-registry",
        default=DEFAULT_IMAGES.registry,
        help="container registry the component images are pulled from (not the model registry)",
    )
    cmd.add_argument("--tag", default=DEFAULT_IMAGES.tag, help="tag of the component images")


def add_target_flags(cmd, *, cache_by_default: bool) -> None:
    add_image_flags(cmd)
    cmd.add_argument(
        "--package",
        help="a compiled pipeline YAML to use instead of compiling now (placement flags ignored; "
        "default: compile now)",
    )
    cmd.add_argument(
        "--cache",
        action=argparse.BooleanOptionalAction,
        default=cache_by_default,
        help="--cache: tasks follow the compiled caching (train, select-model and evaluate may be served "
        "from the cache); --no-cache: every task runs",
    )
    cmd.add_argument(
        "--experiment",
        help="experiment to file runs under (kubeflow default: tweet-sentiment; vertex: a Vertex AI "
        "Experiment, none unless given)",
    )
    cmd.add_argument(
        "--pipeline-root", help="where artifacts go (Vertex: required gs:// prefix; default: none)"
    )
    cmd.add_argument(
        "--service-account",
        help="identity the run executes as (KSA on KFP, GSA on Vertex; default: the backend's)",
    )
    add_connection_flags(cmd)
    add_placement_flags(cmd)


def package_for(args: argparse.Namespace, target: str, compile_pipeline: CompileFn, workdir: str):
    if args.package:
        package = load_package(args.package)
    else:
        images = ImageSet(args.image_registry, args.tag)
        placement = placement_from_args(args, target)
        package = load_package(
            compile_pipeline(target, images, Path(workdir) / f"pipeline.{target}.yaml", placement)
        )
    return package if args.cache else without_caching(package, workdir)


def checked_arguments(package: PipelinePackage, arguments: dict[str, Any]) -> dict[str, Any]:
    """``arguments`` after the package's own checks (names, types, required) and :func:`check_values`,
    before any request is sent."""
    arguments = package.check_arguments(arguments)
    check_values(package, arguments)
    return arguments


def check_values(package: PipelinePackage, arguments: dict[str, Any]) -> None:
    """No placeholder left (``gs://YOUR_BUCKET/...``), and the settings check of every value together
    with the compiled defaults of the others."""
    from tweet_sentiment.preflight import require_valid

    placeholders = [
        f"{k}={v!r}" for k, v in arguments.items() if isinstance(v, str) and PLACEHOLDER_MARK in v
    ]
    if placeholders:
        raise DeployError(
            f"placeholder value(s) left: {', '.join(placeholders)}; put real values in the schedule file "
            "or pass --param NAME=VALUE"
        )
    defaults = {n: spec["defaultValue"] for n, spec in package.parameters.items() if "defaultValue" in spec}
    require_valid({**defaults, **arguments})


def parsed_arguments(flags: list[str] | None, package: PipelinePackage, base: dict | None = None) -> dict:
    return checked_arguments(package, {**(base or {}), **parse_param_flags(flags, package)})


def kubeflow_target(args: argparse.Namespace):
    from deploy.kubeflow import KubeflowTarget

    host = args.host or os.environ.get("KF_PIPELINES_ENDPOINT")
    if not host:
        raise DeployError("kubeflow needs --host (or KF_PIPELINES_ENDPOINT)")
    return KubeflowTarget(
        host=host,
        experiment=getattr(args, "experiment", None) or "tweet-sentiment",
        namespace=args.namespace,
        pipeline_root=getattr(args, "pipeline_root", None),
        service_account=getattr(args, "service_account", None),
    )


def vertex_target(args: argparse.Namespace):
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


def vertex_client_settings(args: argparse.Namespace) -> dict[str, Any]:
    """``aiplatform.init`` settings for listing or deleting schedules (no pipeline root needed)."""
    if not args.project:
        raise DeployError("Vertex AI needs --project")
    return {"project": args.project, "location": args.region}
