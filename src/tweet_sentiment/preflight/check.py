"""Every pipeline setting checked at once, before any task runs (and on the cluster before a GPU starts).

``check_parameters(parameters)`` takes the pipeline's arguments (``{"epochs": 0, ...}``) and returns
every problem, each naming the parameter, its value and what is allowed. The rules are the settings'
own declarations, not a second copy of them:

* each parameter is given alone to the config dataclass that declares it (``settings.setting``), so
  the dataclass's ``__post_init__`` range check refuses it; then each config is built with all its
  parameters at once, for the checks that involve several fields;
* the steps' compositions: ``eval_split`` as a split preprocess requires, every sweep trial planned
  by ``sweep.plan_trials`` and then built as a whole ``TrainConfig`` (the pipeline's train settings
  with the trial's overrides);
* rules no single step owns: a learning rate above :data:`MAX_LEARNING_RATE` (refused unless
  ``force_learning_rate``), mirrors that cannot work with the registry, and (where the tasks run:
  run-local, and the cluster's check-settings task) a registry directory that is not writable.

run-local, submit, schedule and compile --param call it client-side; the pipeline's check-settings
task (``preflight.step``) calls it again where the tasks run, before the train loop, so a value typed
into the KFP or Vertex AI UI is refused before a GPU pod starts. Imports neither kfp nor torch.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tweet_sentiment.core.errors import ConfigError
from tweet_sentiment.settings import CONFIGS, RENAMED, setting

# A fine-tuning learning rate above this is almost certainly a typo (5 for 5e-5): Transformer encoders
# are fine-tuned at 1e-5..1e-4 (BERT's paper: 2e-5..5e-5; this project's default 5e-5), and far above
# that AdamW drives the encoder into predicting one class. Refused unless force_learning_rate is true.
MAX_LEARNING_RATE = 1e-3
FORCE_LEARNING_RATE = "force_learning_rate"
_CONFIGS_BY_NAME = {config.__name__: config for config in CONFIGS}
_NUMBER = (int, float)


@dataclass(frozen=True)
class Problem:
    """One refused setting: the parameter, the value given and what is allowed."""

    parameter: str
    value: Any
    message: str

    def __str__(self) -> str:
        return f"{self.parameter}={self.value!r}: {self.message}"


class SettingsError(ConfigError):
    """One or more pipeline settings are refused; ``problems`` lists each, one per line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        noun = "setting" if len(problems) == 1 else "settings"
        super().__init__(f"{len(problems)} {noun} refused: " + "; ".join(str(p) for p in problems))

    def lines(self) -> list[str]:
        return [str(problem) for problem in self.problems]


def require_valid(parameters: dict[str, Any], *, check_environment: bool = False) -> None:
    """Raise :class:`SettingsError` listing every problem of ``parameters`` (nothing when all are fine)."""
    problems = check_parameters(parameters, check_environment=check_environment)
    if problems:
        raise SettingsError(problems)


def check_parameters(parameters: dict[str, Any], *, check_environment: bool = False) -> list[Problem]:
    """Every problem of the pipeline arguments ``parameters``; ``check_environment`` also checks what
    depends on the machine the tasks run on (is the registry directory writable here?)."""
    problems = _type_problems(parameters)
    typed = {name: value for name, value in parameters.items() if name not in {p.parameter for p in problems}}
    problems += _config_problems(typed)
    refused = {p.parameter for p in problems}
    problems += _composition_problems(typed, refused)
    if "registry_uri" in typed and "registry_uri" not in refused:
        problems += _registry_problems(str(typed["registry_uri"]), check_environment)
    return problems


# ----------------------------------------------------------------------------- declarations


def _declaration(name: str) -> tuple[type, str]:
    """(config class, field name) that declares pipeline parameter ``name``."""
    if name in RENAMED:
        return RENAMED[name]
    config_name, _, field_name = setting(name).declared_in.partition(".")
    return _CONFIGS_BY_NAME[config_name], field_name


def _type_problems(parameters: dict[str, Any]) -> list[Problem]:
    problems = []
    for name, value in parameters.items():
        try:
            kind = setting(name).type
        except KeyError:
            problems.append(Problem(name, value, "no such pipeline setting"))
            continue
        number = isinstance(value, _NUMBER) and not isinstance(value, bool)
        if kind is float and not (number and math.isfinite(value)):
            problems.append(Problem(name, value, "must be a (finite) number"))
        elif kind is int and not (number and float(value).is_integer()):
            problems.append(Problem(name, value, "must be a whole number"))
        elif kind in (str, bool) and not isinstance(value, kind):
            problems.append(Problem(name, value, f"must be a {'string' if kind is str else 'boolean'}"))
    return problems


def _messages(exc: ConfigError) -> list[str]:
    """The individual problems of a config's ``__post_init__`` error."""
    if hasattr(exc, "problems"):
        return list(exc.problems)
    return re.sub(r"^invalid \w+ configuration: ", "", str(exc)).split("; ")


def _allowed(message: str, field_name: str) -> str:
    """``"epochs must be > 0, got 0"`` -> ``"must be > 0"`` (the parameter and value are said before)."""
    message = re.sub(r",? got .*$", "", message)
    return message[len(field_name) + 1 :] if message.startswith(f"{field_name} ") else message


def _required_fields(config: type, parameters: dict[str, Any]) -> dict[str, Any]:
    """Values for the fields of ``config`` that have no default (``PipelineSettings.registry_uri``)."""
    values = {}
    for f in dataclasses.fields(config):
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            name = next((p for p, (c, n) in RENAMED.items() if c is config and n == f.name), f.name)
            values[f.name] = parameters.get(name, "")
    return values


def _config_problems(parameters: dict[str, Any]) -> list[Problem]:
    """Each parameter alone in its config (who is to blame), then each config with all of its own."""
    problems: list[Problem] = []
    by_config: dict[type, dict[str, str]] = {}
    for name in parameters:
        config, field_name = _declaration(name)
        by_config.setdefault(config, {})[name] = field_name
    for config, names in by_config.items():
        required = _required_fields(config, parameters)
        refused_here = False
        for name, field_name in names.items():
            try:
                config(**{**required, field_name: parameters[name]})
            except ConfigError as exc:
                refused_here = True
                problems += [Problem(name, parameters[name], _allowed(m, field_name)) for m in _messages(exc)]
        if refused_here:
            continue
        try:
            config(**{**required, **{field: parameters[name] for name, field in names.items()}})
        except ConfigError as exc:
            together = ", ".join(names)
            problems += [Problem(together, "(together)", message) for message in _messages(exc)]
    return problems


# ----------------------------------------------------------------------------- compositions


def _composition_problems(parameters: dict[str, Any], refused: set[str]) -> list[Problem]:
    problems = []
    if "eval_split" in parameters and "eval_split" not in refused:
        problems += _eval_split_problems(parameters["eval_split"])
    if not refused & {"sweep", "learning_rate", "class_weight_power", "seed"}:
        problems += _sweep_problems(parameters, refused)
    problems += _learning_rate_problems(parameters)
    problems += _mirror_problems(parameters)
    return problems


def _eval_split_problems(eval_split: str) -> list[Problem]:
    """preprocess requires train and eval_split (``steps.run_preprocess``)."""
    from tweet_sentiment.preprocess.config import PreprocessConfig

    try:
        PreprocessConfig(required_splits=("train", eval_split), held_out_split=eval_split)
    except ConfigError as exc:
        return [Problem("eval_split", eval_split, str(exc))]
    return []


def _train_fields(parameters: dict[str, Any]) -> dict[str, Any]:
    from tweet_sentiment.train.config import TrainConfig

    fields = {}
    for name, value in parameters.items():
        config, field_name = _declaration(name)
        if config is TrainConfig:
            fields[field_name] = value
    return fields


def _planned_trials(parameters: dict[str, Any]) -> list[dict[str, Any]]:
    from tweet_sentiment.train.sweep import plan_trials

    return plan_trials(
        str(parameters.get("sweep", setting("sweep").default)),
        **{
            key: parameters.get(key, setting(key).default)
            for key in ("learning_rate", "class_weight_power", "seed")
        },
    )


def _sweep_problems(parameters: dict[str, Any], refused: set[str]) -> list[Problem]:
    """Each trial planned as the plan-trials task plans it, then built as a whole TrainConfig."""
    from tweet_sentiment.train.config import TrainConfig
    from tweet_sentiment.train.sweep import TRIAL_KEYS

    sweep = parameters.get("sweep", "")
    try:
        trials = _planned_trials(parameters)
    except ConfigError as exc:
        return [Problem("sweep", sweep, str(exc).removeprefix("sweep: "))]
    if not sweep.strip() or any(_declaration(name)[0] is TrainConfig for name in refused):
        return []  # no trial of its own, or the train settings are refused already (a trial would repeat it)
    base = _train_fields(parameters)
    problems = []
    for trial in trials:
        try:
            TrainConfig(**{**base, **{key: trial[key] for key in TRIAL_KEYS}})
        except ConfigError as exc:
            problems += [Problem("sweep", sweep, f"trial {trial['trial']}: {m}") for m in _messages(exc)]
    return problems


def _learning_rate_problems(parameters: dict[str, Any]) -> list[Problem]:
    if parameters.get(FORCE_LEARNING_RATE, False):
        return []
    allowed = (
        f"above the ceiling of {MAX_LEARNING_RATE:g} (set {FORCE_LEARNING_RATE}=true, in run-local "
        "--force-learning-rate, to run it anyway)"
    )
    problems = []
    lr = parameters.get("learning_rate")
    if isinstance(lr, _NUMBER) and lr > MAX_LEARNING_RATE:
        problems.append(Problem("learning_rate", lr, allowed))
    sweep = parameters.get("sweep", "")
    if isinstance(sweep, str) and sweep.strip():
        try:
            trials = _planned_trials(parameters)
        except ConfigError:
            return problems  # reported by _sweep_problems
        for trial in trials:
            if trial["learning_rate"] > MAX_LEARNING_RATE and trial["learning_rate"] != lr:
                problems.append(
                    Problem(
                        "sweep",
                        sweep,
                        f"trial {trial['trial']}: learning_rate {trial['learning_rate']:g} {allowed}",
                    )
                )
    return problems


def _mirror_problems(parameters: dict[str, Any]) -> list[Problem]:
    """Mirrors that cannot work with this registry (README "Mirrors")."""
    registry_uri = str(parameters.get("registry_uri", ""))
    remote = registry_uri.startswith("gs://")
    problems = []
    vertex_model = parameters.get("vertex_model", "")
    if vertex_model and not remote:
        problems.append(
            Problem(
                "vertex_model",
                vertex_model,
                f"needs a gs:// registry_uri (got {registry_uri!r}): Vertex AI "
                "serves a model version from its gs:// artifact URI",
            )
        )
    # MLflow takes any registry: the mirror logs the model files into MLflow's own artifact store.
    return problems


def _registry_problems(registry_uri: str, check_environment: bool) -> list[Problem]:
    """A registry URI of the right form; where the tasks run (``check_environment``), a local registry
    directory must be (or be creatable as) a writable directory."""
    if not registry_uri:
        return [Problem("registry_uri", registry_uri, "must not be empty: a directory or gs:// prefix")]
    if "://" in registry_uri:
        if not re.match(r"^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/|$)", registry_uri):
            return [
                Problem("registry_uri", registry_uri, "must be a local directory or gs://BUCKET[/PREFIX]")
            ]
        return []
    if not check_environment:
        return []  # a path on the cluster's machines (a mounted volume): the check-settings task checks it
    path = Path(registry_uri).expanduser()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        return [Problem("registry_uri", registry_uri, f"{existing} is a file; the registry is a directory")]
    if not os.access(existing, os.W_OK | os.X_OK):
        return [Problem("registry_uri", registry_uri, f"{existing} is not writable by this user")]
    return []
