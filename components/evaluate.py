"""evaluate: score the model (and the registry's champion, on the same data) and decide the gate."""

from kfp import dsl

from components._images import CPU_IMAGE
from components._settings import from_settings


@dsl.component(base_image=CPU_IMAGE, install_kfp_package=False)
@from_settings(
    model="The trained model (train's Model).",
    dataset="The preprocessed tweets (preprocess's Dataset).",
    metrics="Output: accuracy, macro recall, macro F1 and per-class figures.",
    classification_metrics="Output: the confusion matrix.",
    report="Output: the evaluation and the gate's decision as JSON (read by register).",
    html_report="Output: the evaluation as an HTML page.",
)
def evaluate(
    model: dsl.Input[dsl.Model],
    dataset: dsl.Input[dsl.Dataset],
    metrics: dsl.Output[dsl.Metrics],
    classification_metrics: dsl.Output[dsl.ClassificationMetrics],
    report: dsl.Output[dsl.Artifact],
    html_report: dsl.Output[dsl.HTML],
    *,
    eval_split: str,
    min_accuracy: float,
    min_macro_recall: float,
    max_regression: float,
    registry_uri: str,
) -> bool:
    """Scores `eval_split`: accuracy, macro-recall, macro-F1, per-class figures, confusion matrix; the
    gate applies the floors, a degenerate-model guard and a champion/challenger comparison against the
    `champion` alias of `registry_uri`.

    Returns whether the gate passed (it drives registration); the reasons of a failed gate are in
    the task log, in `report` and in `html_report`. A single return value, not a NamedTuple:
    kfp 2.17's local runner cannot resolve a named output inside a `dsl.If` condition."""
    from tweet_sentiment.evaluate.step import run_evaluate

    return run_evaluate(
        model.path,
        dataset.path,
        registry_uri=registry_uri,
        metrics_sink=metrics,
        confusion_sink=classification_metrics,
        report_path=report.path,
        html_path=html_report.path,
        split=eval_split,
        min_accuracy=min_accuracy,
        min_macro_recall=min_macro_recall,
        max_regression=max_regression,
    )
