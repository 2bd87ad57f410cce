"""batch_predict: score a file of tweets with a registered model version (runs on the CPU image)."""

from kfp import dsl

from components._images import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE, install_kfp_package=False)
def batch_predict(
    source: str,
    registry_uri: str,
    predictions: dsl.Output[dsl.Dataset],
    model: str = "",
    model_version: int = 0,
    backend: str = "auto",
    text_column: str = "text",
):
    """Writes `predictions.jsonl` (one row per input row, in order: label, probabilities or a per-row error).

    `model` is a registry alias or version number; when empty, `model_version` is used. Backend
    `auto` uses the version's int8 ONNX export where registration stored one, else torch.
    """
    from tweet_sentiment.predict import run_batch_predict

    predictions.metadata.update(
        run_batch_predict(
            source,
            predictions.path,
            registry_uri=registry_uri,
            model=model or str(model_version),
            backend=backend,
            text_column=text_column,
        )
    )
