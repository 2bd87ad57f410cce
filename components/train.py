"""train: fine-tune an encoder into a negative/neutral/positive classifier (runs on a GPU node)."""

from kfp import dsl

from components._images import GPU_IMAGE
from components._settings import from_settings


@dsl.component(base_image=GPU_IMAGE, install_kfp_package=False)
@from_settings(
    dataset="The preprocessed tweets (preprocess's Dataset).",
    model="Output: an HF save_pretrained directory (safetensors, tokenizer, TensorBoard events).",
    metrics="Output: the best validation figures and the training throughput.",
    run_id="Pipeline job id: names this run's checkpoint directory, so a retried task resumes.",
    default_checkpoint_root="Where checkpoints go when checkpoint_root is empty; set per target at compile "
    "time (Kubeflow: the run's workspace volume; Vertex: the gs:// pipeline root), so they outlive the pod.",
)
def train(
    dataset: dsl.Input[dsl.Dataset],
    model: dsl.Output[dsl.Model],
    metrics: dsl.Output[dsl.Metrics],
    run_id: str = "",
    default_checkpoint_root: str = "",
    *,
    model_name: str,
    epochs: float,
    min_steps: int,
    learning_rate: float,
    class_weight_power: float,
    batch_size: int,
    max_length: int,
    seed: int,
    precision: str,
    num_gpus: int,
    validation_split: str,
    eval_every_steps: int,
    checkpoint_root: str,
    checkpoint_every_steps: int,
):
    """Fine-tunes `model_name` on the train split, keeping the best model on `validation_split`.

    num_gpus > 1 trains with that many DDP processes (torchrun); fewer visible GPUs than num_gpus is
    refused. Checkpoints go to <checkpoint_root or default_checkpoint_root>/<run_id>/train, so a
    retried attempt resumes where the killed or preempted one stopped."""
    from tweet_sentiment.train.step import run_train

    model.metadata.update(
        run_train(
            dataset.path,
            model.path,
            nproc=max(1, num_gpus),
            checkpoint_root=checkpoint_root or default_checkpoint_root,
            run_id=run_id,
            model_uri=model.uri,
            metrics_sink=metrics,
            model_name=model_name,
            epochs=epochs,
            min_steps=min_steps,
            learning_rate=learning_rate,
            class_weight_power=class_weight_power,
            batch_size=batch_size,
            max_length=max_length,
            seed=seed,
            precision=precision,
            eval_split=validation_split,
            eval_every_steps=eval_every_steps,
            checkpoint_every_steps=checkpoint_every_steps,
        )
    )
