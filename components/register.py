"""register: store the gated model as a new immutable registry version."""

from typing import NamedTuple

from kfp import dsl

from components._images import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE, install_kfp_package=False)
def register(
    model: dsl.Input[dsl.Model],
    dataset: dsl.Input[dsl.Dataset],
    metrics: dsl.Input[dsl.Metrics],
    registry_uri: str,
    run_id: str = "",
    eval_split: str = "",
    onnx_max_accuracy_drop_points: float = 0.5,
) -> NamedTuple("Registration", version=int, uri=str):
    """Registering the same run id twice returns the existing version.

    With `eval_split`, an int8 ONNX export judged on that split is stored beside the model (or refused).
    """
    from tweet_sentiment.steps import run_register

    return run_register(
        model.path,
        dataset.path,
        registry_uri,
        metrics=metrics.metadata,
        parameters=model.metadata,
        run_id=run_id,
        eval_split=eval_split,
        onnx_max_accuracy_drop_points=onnx_max_accuracy_drop_points,
    )
