"""batch_predict: score a file of tweets with a registered model version (runs on the CPU image)."""

from kfp import dsl

from components._images import CPU_IMAGE
from components._settings import from_settings


@dsl.component(base_image=CPU_IMAGE, install_kfp_package=False)
@from_settings(
    predictions="Output: predictions.jsonl, one row per input row in order (label, probabilities or "
    "the row's error).",
    model_version="Registry version to use when batch_predict_model is empty (the one just registered).",
    backend="auto: the version's int8 ONNX export where registration stored one, else torch; torch; onnx.",
    text_column="Field holding the tweet (JSONL/CSV).",
)
def batch_predict(
    predictions: dsl.Output[dsl.Dataset],
    model_version: int = 0,
    backend: str = "auto",
    text_column: str = "text",
    *,
    batch_predict_source: str,
    batch_predict_model: str,
    registry_uri: str,
):
    """Scores `batch_predict_source` with the registry alias or version `batch_predict_model`, or with
    `model_version` when that is empty."""
    from tweet_sentiment.predict.step import run_batch_predict

    predictions.metadata.update(
        run_batch_predict(
            batch_predict_source,
            predictions.path,
            registry_uri=registry_uri,
            model=batch_predict_model or str(model_version),
            backend=backend,
            text_column=text_column,
        )
    )
