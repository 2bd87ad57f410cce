"""The check-retrain task: today's Dataset vs the registry's champion and its profile -> train or skip."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any, Protocol

from tweet_sentiment.registry.profile import PROFILE_FILE, predicted_counts, read_profile
from tweet_sentiment.retrain.config import RetrainConfig
from tweet_sentiment.retrain.decision import Champion, Decision, decay_measure, decide
from tweet_sentiment.retrain.drift import Today, measure_drift


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
    text = registry.version_file(version, PROFILE_FILE)
    where = f"{registry.uri(version)}/{PROFILE_FILE}"
    return champion, None if text is None else read_profile(text, where)


def score_champion_today(model_dir: str | os.PathLike[str], split) -> dict[str, Any]:
    """The champion's classification report on today's eval split, on the CPU, with predicted counts."""
    from tweet_sentiment.model.scoring import score_model

    report, _probabilities = score_model(model_dir, split, device="cpu")
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
    run_id: str = "",
    now: dt.datetime | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Decide whether this run trains; write the decision (Markdown), the drift report (HTML), figures.

    ``settings`` are ``RetrainConfig`` fields. Returns the decision record (``decision``: train or
    skip, ``summary``: "trained: ..." / "skipped: ...", the measures and the champion's figures),
    which is also appended to the champion's check history in the registry.
    """
    from tweet_sentiment.core.dataset import read_stats
    from tweet_sentiment.registry import CHAMPION, open_registry

    config = RetrainConfig(**settings)
    now = now or dt.datetime.now(dt.timezone.utc)
    stats = read_stats(dataset_dir)
    fingerprint = str(stats["fingerprint"])
    registry = version = None
    if config.retrain_policy != "always":  # always: today's behaviour, the registry is not even read
        registry = open_registry(registry_uri)
        version = registry.get_alias(CHAMPION)
    champion, today_figures, measures, notes = None, None, [], []
    if version is not None:
        champion, today_figures, measures, notes = _check_champion(
            registry, version, dataset_dir, eval_split, config, report_path
        )
    decision = decide(config, champion=champion, fingerprint=fingerprint, measures=measures, now=now)
    record: dict[str, Any] = {
        "run_id": run_id,
        "snapshot": stats.get("source", ""),
        "fingerprint": fingerprint,
    }
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
    if version is not None:
        registry.record_check(version, history_entry(record))
    print(f"check-retrain: {decision.summary()}", flush=True)
    return record


def check_retrain_task(dataset_dir: str, **arguments: Any) -> str:
    """The component's call: :func:`run_check_retrain`, answering ``train`` or ``skip``."""
    return run_check_retrain(dataset_dir, **arguments)["decision"]


def _check_champion(registry, version: int, dataset_dir, eval_split: str, config: RetrainConfig, report_path):
    """Score the champion on today's eval split and measure drift against its profile."""
    from tweet_sentiment.core.dataset import load_split
    from tweet_sentiment.model.loading import load_tokenizer

    champion, profile = load_champion(registry, version)
    model_dir = registry.model_dir(version)
    today_figures = score_champion_today(model_dir, load_split(dataset_dir, eval_split))
    measures, notes = [], []
    if profile is None:
        notes.append(f"champion version {version} has no reference profile: drift not measured")
    else:
        train = load_split(dataset_dir, "train")
        today = Today(train.texts, train.labels, today_figures["predicted_counts"])
        measures = measure_drift(profile, today, load_tokenizer(str(model_dir)), config, report_path)
    decay = decay_measure(champion, today_figures, config)
    if decay is not None:
        measures.append(decay)
    return champion, today_figures, measures, notes


def history_entry(record: dict[str, Any]) -> dict[str, Any]:
    """What the registry keeps of a check: when, on what, the verdict and the figures."""
    return {
        "checked_at": record["checked_at"],
        "run_id": record["run_id"],
        "snapshot": record["snapshot"],
        "fingerprint": record["fingerprint"],
        "policy": record["policy"],
        "decision": record["decision"],
        "summary": record["summary"],
        "figures": {m["name"]: round(m["value"], 6) for m in record["measures"]},
        "champion_today": record["champion_today"],
    }


def _headline(report: dict[str, Any] | None) -> dict[str, float] | None:
    from tweet_sentiment.model.metrics import HEADLINE_METRICS

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
