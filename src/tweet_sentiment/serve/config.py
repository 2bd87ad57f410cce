"""The model server's settings, declared once: the server's flags come from here."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

from tweet_sentiment.core.errors import ConfigError
from tweet_sentiment.core.text import MAX_TEXT_CHARS
from tweet_sentiment.model.inference import BACKENDS
from tweet_sentiment.model.serving import HTTP_PORT, MODEL_NAME

DEFAULT_MODEL_NAME = MODEL_NAME
DEFAULT_HTTP_PORT = HTTP_PORT
# Vertex AI tells a serving container where the model is and which port to listen on.
VERTEX_STORAGE_ENV = "AIP_STORAGE_URI"
VERTEX_PORT_ENV = "AIP_HTTP_PORT"

CHOICES = {"backend": BACKENDS, "onnx_variant": ("int8", "fp32")}


@dataclass(frozen=True)
class ServeConfig:
    """What the model server loads and how it takes requests."""

    model_uri: str = field(
        default="",
        metadata={
            "help": "The model: a registry version directory (.../versions/NNNNNN), its model/ "
            "directory, or any save_pretrained directory; local or gs://. Empty: $AIP_STORAGE_URI "
            "(Vertex AI sets it)."
        },
    )
    model_name: str = field(
        default=DEFAULT_MODEL_NAME,
        metadata={"help": "Name in the URLs: /v1/models/NAME:predict, /v2/models/NAME/infer."},
    )
    http_port: int = field(
        default=DEFAULT_HTTP_PORT,
        metadata={"help": f"HTTP port; ${VERTEX_PORT_ENV} (Vertex AI) takes precedence when set."},
    )
    backend: str = field(
        default="auto",
        metadata={
            "help": "auto: the stored int8 ONNX export where the version has it, else torch; or onnx, torch."
        },
    )
    onnx_variant: str = field(default="int8", metadata={"help": "ONNX file to use: int8 or fp32."})
    threads: int = field(
        default=0, metadata={"help": "CPU threads for scoring (0: all this process may use)."}
    )
    max_text_chars: int = field(
        default=MAX_TEXT_CHARS, metadata={"help": "Longer texts are refused with 400 (as in training)."}
    )
    max_instances: int = field(default=256, metadata={"help": "Most texts in one request (more: 400)."})
    max_batch_size: int = field(
        default=64,
        metadata={"help": "Most texts of concurrent requests scored together in one call of the model."},
    )
    max_batch_delay_ms: float = field(
        default=0.0,
        metadata={
            "help": "How long a batch waits for more requests before it is scored; 0: it takes the "
            "requests that queued while the previous batch was scored, and waits for none."
        },
    )

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}"
            for name, choices in CHOICES.items()
            if getattr(self, name) not in choices
        ]
        for name in ("max_text_chars", "max_instances", "max_batch_size", "http_port"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.threads < 0 or self.max_batch_delay_ms < 0:
            problems.append("threads and max_batch_delay_ms must be >= 0")
        if not self.model_name or "/" in self.model_name or ":" in self.model_name:
            problems.append(f"model_name must be a plain name (no / or :), got {self.model_name!r}")
        if problems:
            raise ConfigError("invalid serve configuration: " + "; ".join(problems))

    def with_environment(self, environ: dict[str, str] | None = None) -> ServeConfig:
        """This config with what Vertex AI passes in the environment (model location, port) applied."""
        environ = os.environ if environ is None else environ
        changes: dict[str, object] = {}
        if not self.model_uri and environ.get(VERTEX_STORAGE_ENV):
            changes["model_uri"] = environ[VERTEX_STORAGE_ENV]
        if environ.get(VERTEX_PORT_ENV):
            try:
                changes["http_port"] = int(environ[VERTEX_PORT_ENV])
            except ValueError:
                raise ConfigError(
                    f"${VERTEX_PORT_ENV} must be a port number, got {environ[VERTEX_PORT_ENV]!r}"
                ) from None
        values = {spec.name: getattr(self, spec.name) for spec in fields(self)}
        config = ServeConfig(**{**values, **changes})
        if not config.model_uri:
            raise ConfigError(f"no model to serve: pass --model-uri or set ${VERTEX_STORAGE_ENV}")
        return config
