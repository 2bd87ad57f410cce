"""The predict command's and the batch-predict step's settings (``PredictConfig``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tweet_sentiment.core.errors import ConfigError
from tweet_sentiment.core.text import MAX_TEXT_CHARS
from tweet_sentiment.model.inference import BACKENDS
from tweet_sentiment.predict.io import (
    INPUT_FORMATS,
    OUTPUT_FORMATS,
)

# The choices of PredictConfig's fields that take one of a few values.
CHOICES = {
    "input_format": INPUT_FORMATS,
    "output_format": OUTPUT_FORMATS,
    "backend": BACKENDS,
    "onnx_variant": ("int8", "fp32"),
    "precision": ("auto", "fp32", "bf16"),
}


@dataclass
class PredictConfig:
    """What to score, with which model and backend, and where the results go."""

    model: str = field(
        metadata={"help": "Registry alias (champion, latest), version number, or a save_pretrained path."}
    )
    registry: str = field(default="", metadata={"help": "Registry URI, for an alias or a version number."})
    input: str = field(
        default="-",
        metadata={
            "help": "Input file (JSONL, CSV, TSV, Parquet, or text: one tweet a line), or - for stdin."
        },
    )
    output: str = field(default="-", metadata={"help": "Output file (JSONL or CSV), or - for stdout."})
    input_format: str = field(
        default="auto", metadata={"help": "auto: from the input's suffix (stdin: jsonl), or the format."}
    )
    output_format: str = field(
        default="auto", metadata={"help": "auto: from the output's suffix (stdout: jsonl), or the format."}
    )
    text_column: str = field(default="text", metadata={"help": "Field holding the tweet (JSONL/CSV)."})
    id_column: str = field(default="id", metadata={"help": "Field copied to the output when present."})
    backend: str = field(
        default="torch",
        metadata={"help": "torch; onnx (the stored ONNX export); auto: onnx where stored, else torch."},
    )
    onnx_variant: str = field(default="int8", metadata={"help": "ONNX file to use: int8 or fp32."})
    precision: str = field(
        default="auto",
        metadata={"help": "torch only: auto (bf16 where the CPU has native bf16), fp32, bf16."},
    )
    batch_size: int = field(default=64, metadata={"help": "Most tweets per forward pass."})
    max_batch_tokens: int = field(default=4096, metadata={"help": "Most padded tokens per forward pass."})
    max_length: int = field(
        default=0, metadata={"help": "Tokens kept per tweet (longer: truncated); 0: the model's own."}
    )
    max_text_chars: int = field(
        default=MAX_TEXT_CHARS, metadata={"help": "Longer texts are rejected (as in training)."}
    )
    chunk_size: int = field(default=2048, metadata={"help": "Rows read, scored and written at a time."})
    threads: int = field(default=0, metadata={"help": "CPU threads (0: all this process may use)."})
    progress: bool = field(default=True, metadata={"help": "Show a progress bar on stderr."})

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}"
            for name, choices in CHOICES.items()
            if getattr(self, name) not in choices
        ]
        for name in ("batch_size", "max_text_chars", "chunk_size"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        if self.max_length < 0:
            problems.append("max_length must be >= 0 (0: the model's own)")
        if self.max_batch_tokens < 0 or self.threads < 0:
            problems.append("max_batch_tokens and threads must be >= 0")
        if problems:
            raise ConfigError("invalid predict configuration: " + "; ".join(problems))
