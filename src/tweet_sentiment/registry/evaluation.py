"""What evaluate hands register: the gate's verdict and figures (``EvaluationResult``).

evaluate writes it as JSON; register reads it and records it in the version's metadata.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tweet_sentiment.core.errors import ConfigError
from tweet_sentiment.model.metrics import HEADLINE_METRICS


@dataclass
class GateDecision:
    passed: bool
    reasons: list[str]
    notes: list[str] = field(default_factory=list)

    def message(self) -> str:
        notes = "".join(f"\n  note: {note}" for note in self.notes)
        if self.passed:
            return "gate passed" + notes
        return "gate failed:\n" + "\n".join(f"  - {reason}" for reason in self.reasons) + notes


@dataclass
class ChampionScore:
    """The champion's figures on the same data, or why it could not be scored."""

    version: int | None
    report: dict[str, Any] | None = None
    error: str = ""


@dataclass
class EvaluationResult:
    """What evaluate hands to register: the candidate's report, the gate's verdict and the champion's.

    Stored as the evaluate step's ``report`` artifact (flat JSON: the report's figures at the top
    level, beside ``split``, ``gate_passed``, ``gate_reasons``, ...), written by :meth:`write` and
    read back by :meth:`read`.
    """

    report: dict[str, Any]
    split: str
    gate: GateDecision
    thresholds: dict[str, Any]
    registry_uri: str = ""
    champion: ChampionScore | None = None
    misclassified: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.gate.passed

    @property
    def parent_champion(self) -> int | None:
        """The champion version the candidate was compared with (None: no champion, or no registry)."""
        return None if self.champion is None else self.champion.version

    def headline(self) -> dict[str, float]:
        return {name: self.report[name] for name in HEADLINE_METRICS}

    def registry_metrics(self) -> dict[str, Any]:
        """The figures a registry version records."""
        per_class = self.report["per_class"]
        return {
            **self.headline(),
            "examples": self.report["examples"],
            "per_class": per_class,
            "confusion_matrix": self.report["confusion_matrix"],  # rows: true classes, in `labels` order
            "labels": self.report["labels"],
            "split": self.split,
        }

    def gate_record(self) -> dict[str, Any]:
        """The gate's verdict as a registry version records it."""
        return {
            "passed": self.gate.passed,
            "reasons": self.gate.reasons,
            "notes": self.gate.notes,
            "thresholds": self.thresholds,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.report,
            "split": self.split,
            "gate_passed": self.gate.passed,
            "gate_reasons": self.gate.reasons,
            "gate_notes": self.gate.notes,
            "thresholds": self.thresholds,
            "registry_uri": self.registry_uri,
            "champion": None if self.champion is None else asdict(self.champion),
            "misclassified": self.misclassified,
        }

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> EvaluationResult:
        outer = {"split", "gate_passed", "gate_reasons", "gate_notes", "thresholds", "registry_uri"}
        outer |= {"champion", "misclassified"}
        champion = record.get("champion")
        return cls(
            report={k: v for k, v in record.items() if k not in outer},
            split=record["split"],
            gate=GateDecision(
                record["gate_passed"], list(record["gate_reasons"]), list(record["gate_notes"])
            ),
            thresholds=dict(record["thresholds"]),
            registry_uri=record.get("registry_uri", ""),
            champion=None if champion is None else ChampionScore(**champion),
            misclassified=list(record.get("misclassified", [])),
        )

    def write(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> EvaluationResult:
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: not an evaluation report ({type(exc).__name__}: {exc})") from None
