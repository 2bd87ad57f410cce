"""``pipeline.py models deploy VERSION|champion --target kserve|vertex``: serve a registered version.

* ``kserve``: renders the version's InferenceService (the serving image of ``--image-registry`` /
  ``--tag``, the version's ``gs://`` model directory as storage URI, resources and replicas) and
  prints it as YAML, writes it (``--output``), or applies it with the Kubernetes client (``--apply``;
  ``--dry-run``: the API server checks it and persists nothing).
* ``vertex``: deploys the version's Vertex AI mirror (made by the register step with our serving
  image) to an endpoint, created when missing, with ``--traffic-percentage`` of its traffic.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from components._images import DEFAULT_IMAGES, ImageSet
from deploy.inference_service import ServingResources
from deploy.package import DeployError
from deploy.vertex_endpoint import EndpointSettings
from tweet_sentiment.core.errors import TweetSentimentError
from tweet_sentiment.model.serving import MODEL_NAME
from tweet_sentiment.registry.cli import DEFAULT_REGISTRY

SERVING_TARGETS = ("kserve", "vertex")


def add_models_deploy(actions) -> None:
    """Add ``deploy`` to the ``models`` sub-commands (``actions``: what its ``add_subparsers`` returned)."""
    deploy = actions.add_parser(
        "deploy",
        help="serve a registered version: a KServe InferenceService or a Vertex AI endpoint",
        description=__doc__.split("\n\n")[0],
    )
    deploy.add_argument("version", nargs="?", default="champion", help="number, 'latest' or an alias")
    deploy.add_argument(
        "--registry", default=DEFAULT_REGISTRY, help="registry: a directory or gs://bucket/prefix"
    )
    deploy.add_argument("--target", choices=SERVING_TARGETS, required=True)
    kserve = deploy.add_argument_group("kserve")
    kserve.add_argument("--name", default=MODEL_NAME, help="InferenceService name")
    kserve.add_argument("--namespace", default="default", help="Kubernetes namespace")
    kserve.add_argument(
        "--image-registry", default=DEFAULT_IMAGES.registry, help="where the serving image is"
    )
    kserve.add_argument("--tag", default=DEFAULT_IMAGES.tag, help="serving image tag")
    kserve.add_argument("--output", help="write the InferenceService YAML here (default: print it)")
    kserve.add_argument(
        "--apply", action="store_true", help="create or update it in the cluster (kubeconfig)"
    )
    kserve.add_argument(
        "--dry-run", action="store_true", help="with --apply: checked by the API server, not kept"
    )
    vertex = deploy.add_argument_group("vertex")
    vertex.add_argument("--project", default="", help="default: the model's project")
    vertex.add_argument("--location", default="", help="default: the model's region")
    vertex.add_argument("--vertex-api-endpoint", default="", help="a private Vertex AI API endpoint")
    added = set()
    for settings in (ServingResources, EndpointSettings):
        for spec in fields(settings):
            if spec.name not in added:  # replicas: one flag for both targets
                added.add(spec.name)
                replicas = spec.name in ("min_replicas", "max_replicas")
                group = deploy if replicas else kserve if settings is ServingResources else vertex
                group.add_argument(
                    "--" + spec.name.replace("_", "-"),
                    type=type(spec.default),
                    default=spec.default,
                    help=spec.metadata["help"],
                )
    deploy.set_defaults(handler=run_models_deploy)


def _settings(cls, args: argparse.Namespace):
    return cls(**{spec.name: getattr(args, spec.name) for spec in fields(cls)})


def run_models_deploy(args: argparse.Namespace) -> int:
    try:
        print(_deploy(args))
    except (DeployError, TweetSentimentError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _deploy(args: argparse.Namespace) -> str:
    from tweet_sentiment.registry import open_registry

    registry = open_registry(args.registry)
    version = registry.resolve(args.version)
    if args.target == "kserve":
        return _kserve(args, registry, version)
    return _vertex(args, registry, version)


def _kserve(args: argparse.Namespace, registry, version: int) -> str:
    import yaml

    from deploy.inference_service import apply, render

    manifest = render(
        name=args.name,
        namespace=args.namespace,
        image=ImageSet(args.image_registry, args.tag).serve,
        storage_uri=f"{registry.uri(version)}/model",
        registry_version=version,
        registry_uri=registry.root_uri,
        resources=_settings(ServingResources, args),
    )
    if args.apply or args.dry_run:
        answer = apply(manifest, dry_run=args.dry_run)
        done = "checked (dry run)" if args.dry_run else "applied"
        return f"InferenceService {args.namespace}/{answer['metadata']['name']} {done}: version {version}"
    text = yaml.safe_dump(manifest, sort_keys=False)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
        return f"wrote {args.output} (version {version}); apply with --apply or kubectl apply -f"
    return text.rstrip()


def _vertex(args: argparse.Namespace, registry, version: int) -> str:
    from deploy.vertex_endpoint import deploy_to_endpoint

    record = registry.mirrors(version).get("vertex")
    if not record or not record.get("ref"):
        raise DeployError(
            f"version {version} has no Vertex AI mirror: register it with vertex_model set (gs:// registry)"
        )
    result = deploy_to_endpoint(
        record["ref"],
        _settings(EndpointSettings, args),
        display_name=f"{MODEL_NAME}-v{version}",
        project=args.project,
        location=args.location,
        sdk_options={"api_endpoint": args.vertex_api_endpoint} if args.vertex_api_endpoint else None,
    )
    split = ", ".join(f"{model}: {share}%" for model, share in result["traffic_split"].items())
    return f"version {version} ({result['model']}) deployed to {result['endpoint']}; traffic {split}"
