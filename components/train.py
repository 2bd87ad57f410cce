"""train: fine-tune an encoder into a negative/neutral/positive classifier (runs on a GPU node)."""

from kfp import dsl

from components._images import GPU_IMAGE


@dsl.component(base_image=GPU_IMAGE, install_kfp_package=False)
def train(
    dataset: dsl.Input[dsl.Dataset],
    model: dsl.Output[dsl.Model],
    model_name: str = "distilbert-base-uncased",
    epochs: float = 3.0,
    learning_rate: float = 2e-5,
    batch_size: int = 16,
    max_length: int = 128,
    seed: int = 42,
    precision: str = "auto",
):
    """Writes an HF save_pretrained directory (safetensors + tokenizer) as the Model artifact."""
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
        )
    )
