"""evaluate: score the model (and the registry's champion, on the same data) and decide the gate."""

from kfp import dsl

from components._images import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE, install_kfp_package=False)
def evaluate(
    model: dsl.Input[dsl.Model],
    dataset: dsl.Input[dsl.Dataset],
    metrics: dsl.Output[dsl.Metrics],
    classification_metrics: dsl.Output[dsl.ClassificationMetrics],
    report: dsl.Output[dsl.Artifact],
    html_report: dsl.Output[dsl.HTML],
    split: str = "test",
    min_accuracy: float = 0.0,
    min_macro_recall: float = 0.0,
    max_length: int = 128,
    registry_uri: str = "",
    max_regression: float = 0.0,
) -> bool:
    """Accuracy, macro-recall, macro-F1, per-class figures, confusion matrix; floors, degenerate-model
    guard and champion/challenger comparison against the `champion` alias of `registry_uri`.

    Returns whether the gate passed (it drives registration); the reasons of a failed gate are in
    the task log, in `report` (JSON) and in `html_report`. A single return value, not a NamedTuple:
    kfp 2.17's local runner cannot resolve a named output inside a `dsl.If` condition.
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
        registry_uri=registry_uri,
        max_regression=max_regression,
        html_path=html_report.path,
    )
