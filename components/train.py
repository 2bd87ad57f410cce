"""train: fine-tune an encoder into a negative/neutral/positive classifier (runs on a GPU node)."""

from kfp import dsl

from components._images import GPU_IMAGE


@dsl.component(base_image=GPU_IMAGE, install_kfp_package=False)
def train(
    dataset: dsl.Input[dsl.Dataset],
    model: dsl.Output[dsl.Model],
    metrics: dsl.Output[dsl.Metrics],
    model_name: str = "distilbert-base-uncased",
    epochs: float = 3.0,
    learning_rate: float = 8e-5,
    batch_size: int = 32,
    max_length: int = 128,
    seed: int = 42,
    precision: str = "auto",
    num_gpus: int = 1,
    checkpoint_root: str = "",
    checkpoint_every_steps: int = 500,
    eval_every_steps: int = 0,
    run_id: str = "",
):
    """Writes an HF save_pretrained directory (safetensors + tokenizer + TensorBoard events) as the Model.

    num_gpus > 1 trains with that many DDP processes (torchrun). Checkpoints go to
    <checkpoint_root>/<run_id>/train, or inside the Model artifact when checkpoint_root is empty, so a
    retried attempt resumes where the preempted one stopped. Best validation figures go to `metrics`.
    """
    from tweet_sentiment.steps import run_train

    model.metadata.update(
        run_train(
            dataset.path,
            model.path,
            model_name=model_name,
            epochs=epochs,
            learning_rate=learning_rate,
            batch_size=batch_size,
            max_length=max_length,
            seed=seed,
            precision=precision,
            nproc=max(1, num_gpus),
            checkpoint_root=checkpoint_root,
            run_id=run_id,
            model_uri=model.uri,
            checkpoint_every_steps=checkpoint_every_steps,
            eval_every_steps=eval_every_steps,
            metrics_sink=metrics,
        )
    )
