"""check-retrain: on a CPU, before any GPU starts, decide whether this run trains (issue 19)."""

from kfp import dsl

from components._images import CPU_IMAGE
from components._settings import from_settings


@dsl.component(base_image=CPU_IMAGE, install_kfp_package=False)
@from_settings(
    dataset="The preprocessed tweets (preprocess's Dataset): today's snapshot and its fingerprint.",
    decision="Output: the decision, its reasons and every measure against its threshold (Markdown).",
    drift_report="Output: Evidently's drift report between the champion's profile and today's data.",
    figures="Output: the measures and the champion's figures on today's evaluation split.",
    run_id="Pipeline job id, recorded with the check in the champion's history (notify reads it).",
)
def check_retrain(
    dataset: dsl.Input[dsl.Dataset],
    decision: dsl.Output[dsl.Markdown],
    drift_report: dsl.Output[dsl.HTML],
    figures: dsl.Output[dsl.Metrics],
    run_id: str = "",
    *,
    registry_uri: str,
    eval_split: str,
    retrain_policy: str,
    max_champion_age_days: float,
    decay_metric: str,
    max_decay: float,
    max_label_drift: float,
    max_length_drift: float,
    max_text_drift_auc: float,
    max_prediction_drift: float,
    max_unknown_rate_increase: float,
    max_new_word_rate_increase: float,
) -> str:
    """Returns `train` or `skip` under `retrain_policy`: always trains; on_change skips the snapshot the
    champion was trained on; when_needed trains when there is no champion, a drift or decay measure
    reaches its threshold, or the champion is too old. A single return value: kfp 2.17's local runner
    cannot resolve a named output inside a `dsl.If` condition."""
    from tweet_sentiment.retrain.step import check_retrain_task

    return check_retrain_task(
        dataset.path,
        registry_uri=registry_uri,
        eval_split=eval_split,
        decision_path=decision.path,
        report_path=drift_report.path,
        metrics=figures,
        run_id=run_id,
        retrain_policy=retrain_policy,
        max_champion_age_days=max_champion_age_days,
        decay_metric=decay_metric,
        max_decay=max_decay,
        max_label_drift=max_label_drift,
        max_length_drift=max_length_drift,
        max_text_drift_auc=max_text_drift_auc,
        max_prediction_drift=max_prediction_drift,
        max_unknown_rate_increase=max_unknown_rate_increase,
        max_new_word_rate_increase=max_new_word_rate_increase,
    )
