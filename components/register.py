"""register: store the gated model as a new immutable registry version and promote it to champion."""

from typing import NamedTuple

from kfp import dsl

from components._images import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE, install_kfp_package=False)
def register(
    model: dsl.Input[dsl.Model],
    dataset: dsl.Input[dsl.Dataset],
    evaluation: dsl.Input[dsl.Artifact],
    registry_uri: str,
    run_id: str = "",
    eval_split: str = "",
    onnx_max_accuracy_drop_points: float = 0.5,
) -> NamedTuple("Registration", version=int, uri=str):
    """Registering the same run id twice returns the existing version. `champion` moves to the new
    version only if it still points at the champion that evaluate compared against. With
    `eval_split`, an int8 ONNX export judged on that split is stored beside the model (or refused)."""
    from tweet_sentiment.steps import run_register

    return run_register(
        model.path,
        dataset.path,
        registry_uri,
        parameters=model.metadata,
        run_id=run_id,
        evaluation_path=evaluation.path,
        eval_split=eval_split,
        onnx_max_accuracy_drop_points=onnx_max_accuracy_drop_points,
    )
