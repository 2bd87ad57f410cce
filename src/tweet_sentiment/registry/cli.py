"""``pipeline.py models list|show|promote|rollback|export``: look at and steer the registry by hand."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from tweet_sentiment.core.errors import TweetSentimentError
from tweet_sentiment.registry import CHAMPION, Registry, RegistryError, open_existing_registry
from tweet_sentiment.registry.mirrors import describe, move_champion, summarize

DEFAULT_REGISTRY = "model_registry"


def add_models_command(subparsers):
    """Add the ``models`` sub-command to ``subparsers`` (what ``add_subparsers`` returned); returns its
    own sub-commands, so that deploy/ can add ``models deploy``."""
    models = subparsers.add_parser(
        "models", help="list, inspect, promote, roll back or export registered models"
    )
    actions = models.add_subparsers(dest="models_action", required=True)

    def with_registry(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument(
            "--registry",
            default=DEFAULT_REGISTRY,
            help="the model registry (not the image registry): a directory or gs://bucket/prefix",
        )
        return parser

    with_registry(
        actions.add_parser("list", help="every version with its headline metrics, aliases and mirrors")
    )
    show = with_registry(actions.add_parser("show", help="one version's metadata, mirrors and model card"))
    show.add_argument("version", nargs="?", default=CHAMPION, help="number, 'latest' or an alias")
    show.add_argument(
        "--json", action="store_true", help='print the metadata (and a "mirrors" key) as JSON only'
    )
    promote = with_registry(actions.add_parser("promote", help="point an alias (champion) at a version"))
    promote.add_argument("version", help="number, 'latest' or an alias")
    promote.add_argument("--alias", default=CHAMPION, help="alias to move (default: champion)")
    rollback = with_registry(
        actions.add_parser("rollback", help="move an alias back to the version it pointed at before")
    )
    rollback.add_argument("--alias", default=CHAMPION, help="alias to move back (default: champion)")
    export = with_registry(
        actions.add_parser(
            "export",
            help="write a version's model folder (weights, tokenizer, model card) to a new directory, "
            "as the Hugging Face Hub would publish it (huggingface_hub upload_folder)",
        )
    )
    export.add_argument("version", help="number, 'latest' or an alias")
    export.add_argument("directory", help="a directory that does not exist yet, or an empty one")
    return actions


def _figure(metrics: dict, name: str) -> str:
    value = metrics.get(name)
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"


def format_listing(registry: Registry) -> str:
    versions = registry.versions()
    if not versions:
        return f"no versions in {registry.root_uri}"
    by_version: dict[int, list[str]] = {}
    for name, version in registry.aliases().items():
        by_version.setdefault(version, []).append(name)
    lines = [f"registry {registry.root_uri}", ""]
    lines.append(
        f"{'version':>7}  {'created':<25}  {'accuracy':>8}  {'macro_rec':>9}  {'macro_f1':>8}  "
        f"{'parent':>6}  {'run id':<24}  {'mirrors':<20}  aliases"
    )
    for version in versions:
        record = registry.metadata(version)
        metrics = record.get("metrics") or {}
        parent = record.get("parent_champion")
        lines.append(
            f"{version:>7}  {record.get('created_at', ''):<25}  {_figure(metrics, 'accuracy'):>8}  "
            f"{_figure(metrics, 'macro_recall'):>9}  {_figure(metrics, 'macro_f1'):>8}  "
            f"{parent if parent else '-':>6}  {str(record.get('run_id') or '-')[:24]:<24}  "
            f"{summarize(registry.mirrors(version)):<20}  {', '.join(sorted(by_version.get(version, [])))}"
        )
    return "\n".join(lines)


def export_version(registry: Registry, version: int, directory: Path) -> Path:
    """Copy version ``version``'s model folder to ``directory``, with its model card as README.md.

    A version registered before cards lived in ``model/`` gets one rendered from its metadata.
    """
    from tweet_sentiment.registry.base import CARD_FILE
    from tweet_sentiment.registry.model_card import render_model_card

    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise RegistryError(f"{directory}: exists and is not an empty directory; pass a new one")
    source = registry.model_dir(version)
    shutil.copytree(source, directory, dirs_exist_ok=True)
    if not (directory / CARD_FILE).exists():
        card = render_model_card(registry.metadata(version))
        (directory / CARD_FILE).write_text(card, encoding="utf-8")
    return directory


CHECKS_SHOWN = 10


def format_checks(checks: list[dict]) -> str:
    """The retrain checks made against a version as champion, newest last (the last CHECKS_SHOWN)."""
    if not checks:
        return "retrain checks: none (never checked as champion)"
    lines = [f"retrain checks: {len(checks)}, last {min(len(checks), CHECKS_SHOWN)} (newest last):"]
    for check in checks[-CHECKS_SHOWN:]:
        today = check.get("champion_today") or {}
        figures = ", ".join(f"{name} {value:.3f}" for name, value in (check.get("figures") or {}).items())
        lines.append(
            f"  {check['checked_at']}  {check['decision']:<5} {check['policy']:<11} {check['snapshot']} "
            f"(fingerprint {check['fingerprint'][:12]})"
        )
        if today:
            lines.append("      champion today: " + ", ".join(f"{k} {v:.4f}" for k, v in today.items()))
        if figures:
            lines.append(f"      measures: {figures}")
        lines.append(f"      {check['summary']}")
    return "\n".join(lines)


def _follow_in_mirrors(registry: Registry, alias: str, version: int) -> None:
    """The mirrors' champion follows ours (other aliases exist only in this registry)."""
    if alias == CHAMPION:
        for line in move_champion(registry, version):
            print(f"  {line}")


def run_models_command(args: argparse.Namespace) -> int:
    try:
        registry = open_existing_registry(args.registry)
        if args.models_action == "list":
            print(format_listing(registry))
        elif args.models_action == "show":
            version = registry.resolve(args.version)
            record, mirrors = registry.metadata(version), registry.mirrors(version)
            checks = registry.checks(version)
            shown = {**record, "mirrors": mirrors, "checks": checks} if args.json else record
            print(json.dumps(shown, indent=2))
            if not args.json:
                print(f"\nuri: {registry.uri(version)}")
                run = record.get("pipeline_run") or {}
                if run.get("name") or run.get("id"):
                    where = f" {run['url']}" if run.get("url") else ""
                    print(f"pipeline run: {run.get('name') or '-'} (id {run.get('id') or '-'}){where}")
                if record.get("report"):
                    print(f"report: {registry.uri(version)}/{record['report']}")
                for target, mirror in sorted(mirrors.items()):
                    print(f"mirrored to {target}: {describe(mirror)} ({mirror.get('at', '')})")
                print(format_checks(checks))
                print()
                print(registry.model_card(version))
        elif args.models_action == "promote":
            version = registry.resolve(args.version)
            before = registry.get_alias(args.alias)
            registry.set_alias(args.alias, version, reason="promoted by hand")
            print(f"{args.alias}: version {before if before is not None else '(none)'} -> {version}")
            _follow_in_mirrors(registry, args.alias, version)
        elif args.models_action == "rollback":
            before = registry.get_alias(args.alias)
            version = registry.rollback_alias(args.alias)
            print(f"{args.alias}: version {before} -> {version} (rolled back)")
            _follow_in_mirrors(registry, args.alias, version)
        elif args.models_action == "export":
            version = registry.resolve(args.version)
            target = export_version(registry, version, Path(args.directory))
            print(
                f"version {version} -> {target}; publish it as is with "
                f"`huggingface-cli upload <user>/<repo> {target} .` or HfApi().upload_folder(...)"
            )
        else:
            raise AssertionError(args.models_action)
    except TweetSentimentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
