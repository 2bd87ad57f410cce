"""Schedule files (``schedules/*.yaml``): when to retrain, on which target, with which parameters.

A schedule file holds no host, project or credential: those are deployment facts given on the
command line (or by the environment), so one file serves every environment. Example::

    name: tweet-sentiment-nightly
    target: kubeflow            # or vertex
    cron: "0 0 3 * * *"         # kubeflow: 6 fields, seconds first; vertex: 5, optional "TZ=Area/City "
    max_concurrency: 1
    parameters:
      data_source: gs://YOUR_BUCKET/tweets/latest   # newest dated snapshot (tweet_sentiment.core.snapshots)
      registry_uri: gs://YOUR_BUCKET/model-registry
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from deploy.package import DeployError

CRON_FIELDS = {"kubeflow": 6, "vertex": 5}
_KNOWN_KEYS = {"name", "target", "cron", "max_concurrency", "parameters", "description"}
_DISPLAY_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def cron_field_count(cron: str) -> int:
    fields = cron.split()
    if fields and fields[0].startswith(("TZ=", "CRON_TZ=")):
        fields = fields[1:]
    return len(fields)


@dataclass(frozen=True)
class ScheduleSpec:
    name: str = field(metadata={"help": "schedule / recurring-run name (lowercase letters, digits, '-')"})
    target: str = field(metadata={"help": "kubeflow or vertex"})
    cron: str = field(metadata={"help": "kubeflow: 6-field cron (seconds first); vertex: 5-field cron"})
    parameters: dict[str, Any] = field(default_factory=dict, metadata={"help": "pipeline arguments"})
    max_concurrency: int = field(default=1, metadata={"help": "runs of this schedule allowed at once"})
    description: str = field(default="", metadata={"help": "kubeflow: the recurring run's description"})
    source: str = "<schedule>"

    def __post_init__(self) -> None:
        where = self.source
        if self.target not in CRON_FIELDS:
            raise DeployError(f"{where}: target {self.target!r} must be one of {', '.join(CRON_FIELDS)}")
        if not isinstance(self.name, str) or not _DISPLAY_NAME.match(self.name):
            raise DeployError(f"{where}: name {self.name!r} must be lowercase letters, digits and '-'")
        if not isinstance(self.cron, str):
            raise DeployError(f"{where}: cron must be a quoted string")
        expected, got = CRON_FIELDS[self.target], cron_field_count(self.cron)
        if got != expected:
            hint = (
                "seconds minutes hours day month weekday"
                if expected == 6
                else "minutes hours day month weekday"
            )
            raise DeployError(
                f"{where}: cron {self.cron!r} has {got} fields; {self.target} needs {expected} ({hint})"
            )
        if (
            not isinstance(self.max_concurrency, int)
            or isinstance(self.max_concurrency, bool)
            or not (1 <= self.max_concurrency <= 10)
        ):
            raise DeployError(
                f"{where}: max_concurrency {self.max_concurrency!r} must be an integer from 1 to 10"
            )
        if self.description and self.target == "vertex":
            raise DeployError(
                f"{where}: a Vertex AI schedule has no description field; make it a YAML comment"
            )
        if not isinstance(self.parameters, dict):
            raise DeployError(f"{where}: parameters must be a mapping of pipeline parameter names to values")


def load_schedule(path: str | Path) -> ScheduleSpec:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DeployError(f"cannot read schedule file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise DeployError(f"{path}: a schedule file is a mapping with name, target, cron and parameters")
    unknown = sorted(set(data) - _KNOWN_KEYS)
    if unknown:
        raise DeployError(
            f"{path}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_KNOWN_KEYS))}"
        )
    missing = [k for k in ("name", "target", "cron") if k not in data]
    if missing:
        raise DeployError(f"{path}: missing {', '.join(missing)}")
    return ScheduleSpec(
        name=data["name"],
        target=data["target"],
        cron=data["cron"],
        parameters=data.get("parameters") or {},
        max_concurrency=data.get("max_concurrency", 1),
        description=data.get("description", ""),
        source=str(path),
    )
