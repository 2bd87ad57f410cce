"""evaluate: score the model on a held-out split and decide the gate."""

from kfp import dsl

from components._images import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE, install_kfp_package=False)
def evaluate(
    model: dsl.Input[dsl.Model],
    dataset: dsl.Input[dsl.Dataset],
    metrics: dsl.Output[dsl.Metrics],
    classification_metrics: dsl.Output[dsl.ClassificationMetrics],
    report: dsl.Output[dsl.Artifact],
    split: str = "test",
    min_accuracy: float = 0.0,
    min_macro_recall: float = 0.0,
    max_length: int = 128,
) -> bool:
    """Accuracy, macro-recall, macro-F1, per-class figures and confusion matrix.

    Returns whether the gate passed (it drives registration); the reasons of a failed gate are in
    the task log and in `report`. A single return value, not a NamedTuple: kfp 2.17's local runner
    cannot resolve a named output inside a `dsl.If` condition.
    """
    from tweet_sentiment.steps import run_evaluate

    return run_evaluate(
        model.path,
        dataset.path,
        split=split,
        min_accuracy=min_accuracy,
        min_macro_recall=min_macro_recall,
        max_length=max_length,
        metrics_sink=metrics,
        confusion_sink=classification_metrics,
        report_path=report.path,
    )
