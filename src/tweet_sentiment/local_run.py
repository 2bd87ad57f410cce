"""Reading back what a ``kfp.local`` run left in its pipeline root, for the summary ``run-local`` prints."""

from __future__ import annotations

import json
from pathlib import Path

from tweet_sentiment.errors import TweetSentimentError
from tweet_sentiment.mirrors import describe
from tweet_sentiment.registry import CHAMPION, open_registry
from tweet_sentiment.sweep import SELECTION_FILE, describe_selection


def latest_run_dir(pipeline_root: str | Path) -> Path:
    runs = [p for p in Path(pipeline_root).iterdir() if p.is_dir()] if Path(pipeline_root).exists() else []
    if not runs:
        raise TweetSentimentError(f"no pipeline run found under {pipeline_root}")
    return max(runs, key=lambda p: p.stat().st_mtime)


def summarize_local_run(run_dir: str | Path, registry_uri: str) -> str:
    """Metrics, gate decision and registered version of one run (``run_dir``, or the newest run under it)."""
    run_dir = Path(run_dir)
    if not (run_dir / "evaluate").exists():
        run_dir = latest_run_dir(run_dir)
    reports = sorted(run_dir.glob("evaluate/report"))
    if not reports:
        raise TweetSentimentError(f"the run in {run_dir} has no evaluation report")
    report = json.loads(reports[0].read_text(encoding="utf-8"))
    selections = sorted(run_dir.glob(f"select-model/model/{SELECTION_FILE}"))
    lines = [
        "",
        f"run: {run_dir.name}  (artifacts in {run_dir})",
        *[describe_selection(json.loads(path.read_text(encoding="utf-8"))) for path in selections[:1]],
        f"evaluated on the {report['split']} split ({report['examples']} tweets):",
        f"  accuracy      {report['accuracy']:.4f}",
        f"  macro recall  {report['macro_recall']:.4f}",
        f"  macro F1      {report['macro_f1']:.4f}",
    ]
    for name, figures in report["per_class"].items():
        lines.append(
            f"  {name:<9} precision {figures['precision']:.3f}  recall {figures['recall']:.3f}  "
            f"f1 {figures['f1']:.3f}  support {figures['support']}"
        )
    lines.extend(f"  note: {note}" for note in report.get("gate_notes", []))
    html_reports = sorted(run_dir.glob("evaluate/html_report"))
    if html_reports:
        lines.append(f"report: {html_reports[0]}")
    if report["gate_passed"]:
        lines.append("gate: PASSED")
        output_file = run_dir / "register" / "executor_output.json"
        if not output_file.exists():
            raise TweetSentimentError(f"the gate passed but the run in {run_dir} registered nothing")
        registered = json.loads(output_file.read_text(encoding="utf-8"))["parameterValues"]
        lines.append(
            f"registered: version {registered['version']} at {registered['uri']} (registry {registry_uri})"
        )
        registry = open_registry(registry_uri)
        lines.append(f"{CHAMPION}: version {registry.get_alias(CHAMPION)}")
        for target, record in sorted(registry.mirrors(int(registered["version"])).items()):
            lines.append(f"mirrored to {target}: {describe(record)}")
    else:
        lines.append("gate: FAILED, model not registered:")
        lines.extend(f"  - {reason}" for reason in report["gate_reasons"])
    return "\n".join(lines)
