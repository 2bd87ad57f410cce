"""Where each pipeline setting's default and help text are declared, once.

A step's settings are the fields of its config dataclass (``PreprocessConfig``, ``TrainConfig``,
``EvaluateConfig``, ``OnnxExportConfig``, ``MirrorConfig``, ``PredictConfig``, ``SweepConfig``,
``RetrainConfig``, ``ProfileConfig``);
settings of the pipeline as a whole are the fields of ``PipelineSettings`` below. Everything else
reads them through :func:`setting`:

* the pipeline's signature and its parameter descriptions (``pipeline.py``),
* the components' defaults and ``Args:`` descriptions (``components/_settings.py``),
* ``run-local``'s flags (generated from the pipeline's inputs),
* the gate, train and predict code (they *are* the config dataclasses).

A pipeline parameter is named like the config field it sets, except the few in ``RENAMED`` whose
field name would be ambiguous at pipeline level. This module imports neither kfp nor torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import MISSING, dataclass, field
from typing import Any

from tweet_sentiment.core.errors import ConfigError
from tweet_sentiment.evaluate.config import EvaluateConfig
from tweet_sentiment.predict.config import PredictConfig
from tweet_sentiment.preprocess.config import PreprocessConfig
from tweet_sentiment.register.onnx_export import OnnxExportConfig
from tweet_sentiment.registry.mirrors import MirrorConfig
from tweet_sentiment.registry.profile import ProfileConfig
from tweet_sentiment.retrain.config import RetrainConfig
from tweet_sentiment.train.config import TrainConfig
from tweet_sentiment.train.sweep import SweepConfig

# The compiled pipeline's name; the notify step reports it with the run's final status.
PIPELINE_NAME = "tweet-sentiment-training"


@dataclass(frozen=True)
class PipelineSettings:
    """Settings of the pipeline that belong to no single step's config."""

    registry_uri: str = field(
        metadata={
            "help": "Model registry: a directory every task can write (a mounted volume, /gcs/... on "
            "Vertex) or a gs:// prefix. Required: where models go is a deployment fact."
        }
    )
    num_gpus: int = field(
        default=1,
        metadata={"help": "GPUs of the train task, >= 1; one DDP process (torchrun) per GPU."},
    )
    force_learning_rate: bool = field(
        default=False,
        metadata={
            "help": "Run a learning_rate (or a sweep trial's) above the ceiling of 1e-3 that the settings "
            "check refuses as a likely typo (5 for 5e-5); encoders are fine-tuned at 1e-5..1e-4."
        },
    )
    checkpoint_root: str = field(
        default="",
        metadata={
            "help": "Local directory or gs:// prefix for the train step's resumable checkpoints "
            "(<root>/<run id>/train); empty: the target's default location."
        },
    )
    batch_predict_source: str = field(
        default="",
        metadata={
            "help": "After registration, score this JSONL/CSV/text file of tweets (local or gs://); "
            "empty: no batch prediction."
        },
    )
    batch_predict_model: str = field(
        default="",
        metadata={
            "help": "Registry alias or version number that scores batch_predict_source; empty: the "
            "version this run registered."
        },
    )
    webhook_url: str = field(
        default="",
        metadata={
            "help": "When the run ends (passed, failed or cancelled), POST its final status as JSON here; "
            "empty: the URL in $NOTIFY_WEBHOOK_URL (on Kubeflow from the optional secret named at "
            "compile time), else no notice."
        },
    )

    def __post_init__(self) -> None:
        if self.num_gpus < 1:
            raise ConfigError(f"num_gpus must be >= 1, got {self.num_gpus}")


# Pipeline parameter -> (config class, field) where the config's field name alone would be unclear.
RENAMED: dict[str, tuple[type, str]] = {
    "data_source": (PreprocessConfig, "source"),
    "eval_split": (EvaluateConfig, "split"),
    "validation_split": (TrainConfig, "eval_split"),
    "onnx_max_accuracy_drop_points": (OnnxExportConfig, "max_accuracy_drop_points"),
}
# Where a name is looked up, in this order. A name declared in several configs must have one default
# in all of them (tests/test_settings.py checks it).
CONFIGS: tuple[type, ...] = (
    PipelineSettings,
    PreprocessConfig,
    TrainConfig,
    EvaluateConfig,
    OnnxExportConfig,
    MirrorConfig,
    PredictConfig,
    SweepConfig,
    RetrainConfig,
    ProfileConfig,
)
_TYPES = {"str": str, "int": int, "float": float, "bool": bool}


@dataclass(frozen=True)
class Setting:
    """One setting: its default (``MISSING`` when required), help text and Python type."""

    name: str
    default: Any
    help: str
    type: type
    declared_in: str

    @property
    def required(self) -> bool:
        return self.default is MISSING


def _field(config: type, name: str) -> dataclasses.Field | None:
    return next((f for f in dataclasses.fields(config) if f.name == name), None)


def setting(name: str) -> Setting:
    """The declaration of setting ``name``; a ``KeyError`` naming where to declare an unknown one."""
    if name in RENAMED:
        candidates = [RENAMED[name]]
    else:
        candidates = [(config, name) for config in CONFIGS if _field(config, name) is not None]
    if not candidates:
        raise KeyError(
            f"no setting named {name!r}: declare it as a field of a step's config dataclass or of "
            "tweet_sentiment.settings.PipelineSettings"
        )
    config, field_name = candidates[0]
    found = _field(config, field_name)
    kind = found.type if isinstance(found.type, type) else _TYPES[str(found.type)]
    return Setting(
        name=name,
        default=found.default,
        help=found.metadata.get("help", ""),
        type=kind,
        declared_in=f"{config.__name__}.{field_name}",
    )


def default(name: str) -> Any:
    """The default of setting ``name`` (for signatures: ``epochs: float = default("epochs")``)."""
    value = setting(name).default
    if value is MISSING:
        raise KeyError(f"setting {name!r} is required and has no default")
    return value
