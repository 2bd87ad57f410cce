"""The retrain decision: policy, champion and measured figures -> train or skip, with the reasons.

Pure: no I/O, so every rule is tested on hand-made figures (tests/unit/retrain/test_decision.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from tweet_sentiment.retrain.config import RetrainConfig
from tweet_sentiment.retrain.drift import Measure

TRAIN, SKIP = "train", "skip"


@dataclass(frozen=True)
class Champion:
    """The registry's champion as the check sees it."""

    version: int
    fingerprint: str
    created_at: str  # ISO 8601, when the version was registered
    metrics: dict[str, Any] = field(default_factory=dict)  # its figures at registration

    def age_days(self, now: dt.datetime) -> float:
        created = dt.datetime.fromisoformat(self.created_at)
        if created.tzinfo is None:
            created = created.replace(tzinfo=dt.timezone.utc)
        return (now - created).total_seconds() / 86400.0


@dataclass
class Decision:
    decision: str  # TRAIN or SKIP
    policy: str
    reasons: list[str]
    measures: list[Measure] = field(default_factory=list)

    @property
    def train(self) -> bool:
        return self.decision == TRAIN

    def summary(self) -> str:
        """``trained: <reasons>`` / ``skipped: <reasons>``: what the run says about itself."""
        return f"{'trained' if self.train else 'skipped'}: {'; '.join(self.reasons)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "policy": self.policy,
            "reasons": self.reasons,
            "summary": self.summary(),
            "measures": [m.to_dict() for m in self.measures],
        }


def decay_measure(champion: Champion, today: dict[str, Any], config: RetrainConfig) -> Measure | None:
    """The champion's ``decay_metric`` at registration minus today's; None when either is missing."""
    metric = config.decay_metric
    then, now = champion.metrics.get(metric), today.get(metric)
    if not isinstance(then, (int, float)) or not isinstance(now, (int, float)):
        return None
    return Measure(
        "decay",
        float(then) - float(now),
        config.max_decay,
        f"{metric} {float(then):.4f} at registration, {float(now):.4f} today",
    )


def decide(
    config: RetrainConfig,
    *,
    champion: Champion | None,
    fingerprint: str,
    measures: list[Measure],
    now: dt.datetime,
) -> Decision:
    """Train or skip under ``config.retrain_policy`` (see ``RetrainConfig.retrain_policy``)."""
    policy = config.retrain_policy
    if policy == "always":
        return Decision(TRAIN, policy, ["retrain_policy is always"], measures)
    if champion is None:
        return Decision(TRAIN, policy, ["the registry has no champion"], measures)
    same = fingerprint == champion.fingerprint
    if policy == "on_change":
        if same:
            reason = (
                f"snapshot {fingerprint[:12]} is the one champion version {champion.version} was trained on"
            )
            return Decision(SKIP, policy, [reason], measures)
        reason = (
            f"snapshot changed: {fingerprint[:12]} "
            f"(champion version {champion.version}: {champion.fingerprint[:12]})"
        )
        return Decision(TRAIN, policy, [reason], measures)
    reasons = [m.describe() for m in measures if m.crossed]
    age = champion.age_days(now)
    if config.max_champion_age_days and age >= config.max_champion_age_days:
        reasons.append(
            f"champion version {champion.version} is {age:.1f} days old (>= {config.max_champion_age_days:g})"
        )
    if reasons:
        return Decision(TRAIN, policy, reasons, measures)
    quiet = ", ".join(f"{m.name} {m.value:.4f} < {m.threshold:.4f}" for m in measures) or "nothing measured"
    snapshot = "same snapshot" if same else f"new snapshot {fingerprint[:12]}"
    age_note = f"champion version {champion.version} is {age:.1f} days old"
    reason = f"{snapshot}; no measure reached its threshold ({quiet}); {age_note}"
    return Decision(SKIP, policy, [reason], measures)
