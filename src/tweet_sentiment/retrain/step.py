"""The check-retrain task: today's Dataset vs the registry's champion and its profile -> train or skip."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any, Protocol

from tweet_sentiment.retrain.config import RetrainConfig
from tweet_sentiment.retrain.decision import Champion, Decision, decay_measure, decide
from tweet_sentiment.retrain.drift import Today, measure_drift
from tweet_sentiment.retrain.profile import PROFILE_FILE, predicted_counts, read_profile

SCORE_BATCH_SIZE = 64  # the champion is scored on the task's CPUs; batch size only trades memory for speed


class MetricsSink(Protocol):
    def log_metric(self, metric: str, value: float) -> None: ...


def load_champion(registry, version: int) -> tuple[Champion, dict[str, Any] | None]:
    """The champion's record and its reference profile (None for versions registered without one)."""
    metadata = registry.metadata(version)
    champion = Champion(
        version=version,
        fingerprint=str(metadata.get("dataset_fingerprint", "")),
        created_at=str(metadata.get("created_at", "")),
        metrics=dict(metadata.get("metrics", {})),
    )
    path = Path(registry.model_dir(version)).parent / PROFILE_FILE
    profile = read_profile(path.read_text(encoding="utf-8"), str(path)) if path.exists() else None
    return champion, profile


def score_champion_today(
    model_dir: str | os.PathLike[str], texts: list[str], labels: list[int]
) -> dict[str, Any]:
    """The champion's classification report on today's eval split, with its predicted-class counts."""
    from tweet_sentiment.data import SplitData
    from tweet_sentiment.evaluation import score_split
    from tweet_sentiment.inference_settings import inference_max_length
    from tweet_sentiment.modeling import load_classifier, load_tokenizer

    model = load_classifier(str(model_dir), fresh_head=False).eval()
    report, _probabilities = score_split(
        model,
        load_tokenizer(str(model_dir)),
        SplitData(texts=list(texts), labels=list(labels)),
        batch_size=SCORE_BATCH_SIZE,
        max_length=inference_max_length(model_dir),
    )
    report["predicted_counts"] = predicted_counts(report["confusion_matrix"], report["labels"])
    return report


def run_check_retrain(
    dataset_dir: str | os.PathLike[str],
    *,
    registry_uri: str,
    eval_split: str,
    decision_path: str | os.PathLike[str],
    report_path: str | os.PathLike[str],
    metrics: MetricsSink | None = None,
    now: dt.datetime | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Decide whether this run trains; write the decision (Markdown), the drift report (HTML), figures.

    ``settings`` are ``RetrainConfig`` fields. Returns the decision record (``decision``: train or
    skip, ``summary``: "trained: ..." / "skipped: ...", the measures and the champion's figures).
    """
    from tweet_sentiment.data import load_split, read_stats
    from tweet_sentiment.registry import CHAMPION, open_registry

    config = RetrainConfig(**settings)
    now = now or dt.datetime.now(dt.timezone.utc)
    stats = read_stats(dataset_dir)
    fingerprint = str(stats["fingerprint"])
    record: dict[str, Any] = {"snapshot": stats.get("source", ""), "fingerprint": fingerprint}
    champion = today_figures = None
    measures, notes = [], []
    if config.retrain_policy != "always":
        registry = open_registry(registry_uri)
        version = registry.get_alias(CHAMPION)
        if version is not None:
            champion, profile = load_champion(registry, version)
            evaluated = load_split(dataset_dir, eval_split)
            today_figures = score_champion_today(
                registry.model_dir(version), evaluated.texts, evaluated.labels
            )
            if profile is None:
                notes.append(f"champion version {version} has no reference profile: drift not measured")
            else:
                train = load_split(dataset_dir, "train")
                from tweet_sentiment.modeling import load_tokenizer

                today = Today(train.texts, train.labels, today_figures["predicted_counts"])
                tokenizer = load_tokenizer(str(registry.model_dir(version)))
                measures = measure_drift(profile, today, tokenizer, config, report_path)
            decay = decay_measure(champion, today_figures, config)
            measures += [decay] if decay is not None else []
    decision = decide(config, champion=champion, fingerprint=fingerprint, measures=measures, now=now)
    record.update(decision.to_dict())
    record.update(
        checked_at=now.isoformat(timespec="seconds"),
        notes=notes,
        eval_split=eval_split,
        champion=None if champion is None else champion.version,
        champion_age_days=None if champion is None else round(champion.age_days(now), 2),
        champion_today=_headline(today_figures),
        champion_at_registration=None if champion is None else _headline(champion.metrics),
    )
    _write_outputs(record, decision, decision_path, report_path, metrics)
    print(f"check-retrain: {decision.summary()}", flush=True)
    return record


def _headline(report: dict[str, Any] | None) -> dict[str, float] | None:
    from tweet_sentiment.metrics import HEADLINE_METRICS

    if report is None:
        return None
    return {
        name: float(report[name]) for name in HEADLINE_METRICS if isinstance(report.get(name), (int, float))
    }


def _write_outputs(
    record, decision: Decision, decision_path, report_path, metrics: MetricsSink | None
) -> None:
    from tweet_sentiment.retrain.report import render_markdown

    Path(decision_path).parent.mkdir(parents=True, exist_ok=True)
    Path(decision_path).write_text(render_markdown(record), encoding="utf-8")
    report = Path(report_path)
    if not report.exists():  # no drift measured (policy always, no champion or no profile)
        report.parent.mkdir(parents=True, exist_ok=True)
        reason = "; ".join(record["reasons"] + record["notes"])
        report.write_text(f"<html><body><p>No drift report: {reason}</p></body></html>\n", encoding="utf-8")
    if metrics is None:
        return
    metrics.log_metric("train", 1.0 if decision.train else 0.0)
    for measure in decision.measures:
        metrics.log_metric(measure.name, round(measure.value, 6))
    for name, value in (record["champion_today"] or {}).items():
        metrics.log_metric(f"champion_today_{name}", round(value, 6))
