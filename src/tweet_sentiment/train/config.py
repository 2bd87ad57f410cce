"""The train step's settings: ``TrainConfig`` (each field's help text is the setting's documentation)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tweet_sentiment.core.errors import ConfigError, TweetSentimentError
from tweet_sentiment.model.loading import DEFAULT_MODEL

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
TENSORBOARD_DIR = "tensorboard"


class TrainingInterrupted(TweetSentimentError):
    """SIGTERM arrived; a checkpoint was written and a restart will resume from it."""


class InvalidTrainConfig(ConfigError):
    """Training settings out of range; ``problems`` names each (the sweep reports them per trial)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid training configuration: " + "; ".join(problems))


@dataclass
class TrainConfig:
    """Hyper-parameters and runtime options of the train step."""

    model_name: str = field(
        default=DEFAULT_MODEL,
        metadata={
            "help": "Encoder to fine-tune: hub id, local save_pretrained directory, gs:// prefix or "
            "pkg:<module> (a package shipping weights)."
        },
    )
    epochs: float = field(
        default=3.0, metadata={"help": "Passes over the training split (fractions allowed)."}
    )
    learning_rate: float = field(
        default=5e-5,
        metadata={
            "help": "Peak AdamW learning rate (of the top layer with layer_lr_decay). 5e-5: chosen over 8e-5 "
            "on next year's tweets (the temporal yardstick, BENCHMARKS.md issue 22), the same for every "
            "encoder width (checked on a 768-wide one)."
        },
    )
    min_steps: int = field(
        default=64,
        metadata={
            "help": "Train at least this many optimizer steps: when epochs x steps per epoch falls short "
            "(small data), whole epochs are added until it is reached, so the learning-rate schedule has "
            "room to move the encoder (the 330-tweet sample: 3 -> 6 epochs). Never binds on real data "
            "(TweetEval: 2,000+ steps); max_steps still caps it; 0 turns it off."
        },
    )
    batch_size: int = field(
        default=32, metadata={"help": "Examples per optimizer step and per process (DDP: per rank)."}
    )
    max_length: int = field(
        default=128,
        metadata={
            "help": "Tokens kept per tweet (longer ones are truncated). Saved with the model "
            "(inference_settings.json): evaluate, the ONNX check and predict score with it."
        },
    )
    warmup_ratio: float = field(default=0.06, metadata={"help": "Share of steps with linear warm-up."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay (not on biases/norms)."})
    layer_lr_decay: float = field(
        default=0.9,
        metadata={
            "help": "Layer-wise learning-rate decay: layer i from the top trains at lr * decay**i, "
            "embeddings lowest. 1.0 turns it off."
        },
    )
    label_smoothing: float = field(default=0.0, metadata={"help": "Cross-entropy label smoothing."})
    class_weight_power: float = field(
        default=0.0,
        metadata={
            "help": "Loss weight of each class = (1 / class frequency) ** power, normalised. 0 (the default: "
            "on the dev split 0.5 gained 0.6 macro-recall, inside the noise, and lost 0.8 accuracy): plain "
            "loss; 0.5 lifts the minority class."
        },
    )
    average_tail: float = field(
        default=0.0,
        metadata={
            "help": "Checkpoint averaging: take average_snapshots weight snapshots evenly over this last "
            "share of the steps (e.g. 0.3) and score their uniform average on eval_split; it becomes the "
            "output model when it beats every single evaluation by macro-recall. 0 (the default: on the "
            "full TweetEval run it gained 0.02 macro-recall and lost 0.25 accuracy) turns it off."
        },
    )
    average_snapshots: int = field(
        default=6, metadata={"help": "Snapshots averaged by average_tail (the last step is always one)."}
    )
    seed: int = field(default=42, metadata={"help": "Seed for initialisation, shuffling and dropout."})
    precision: str = field(
        default="auto",
        metadata={
            "help": "auto (bf16, or fp16 without bf16, on GPU; fp32 on CPU), fp32, bf16 or fp16. "
            "bf16 on a CPU only pays off with AVX-512 BF16 / AMX."
        },
    )
    group_by_length: bool = field(
        default=True, metadata={"help": "Batch tweets of similar length together to cut padding."}
    )
    eval_split: str = field(
        default="auto",
        metadata={
            "help": "Split scored after each epoch (and every eval_every_steps) to keep the best model by "
            "macro-recall. auto: the split preprocess chose for model choices (dev, carved out of train, "
            "when the data has no validation split besides the evaluated one); '' or an absent split: "
            "the last step's model is kept."
        },
    )
    eval_every_steps: int = field(
        default=0,
        metadata={
            "help": "Also score the split for choices (validation_split: dev by default; never the "
            "evaluated eval_split) every this many steps, keeping the best; 0: once per epoch."
        },
    )
    max_steps: int = field(
        default=0, metadata={"help": "Stop after this many steps (0: no cap). For smoke runs."}
    )
    checkpoint_dir: str = field(
        default="",
        metadata={
            "help": "Local directory or gs:// prefix for resumable checkpoints; '' turns checkpointing off. "
            "A run restarted with the same value resumes from the newest complete checkpoint."
        },
    )
    checkpoint_every_steps: int = field(
        default=500, metadata={"help": "Steps between periodic checkpoints (one is also written at SIGTERM)."}
    )
    keep_checkpoints: int = field(default=2, metadata={"help": "Complete checkpoints kept (newest first)."})
    delete_checkpoints_on_success: bool = field(
        default=True, metadata={"help": "Remove the checkpoints once the model is saved."}
    )
    log_every_steps: int = field(
        default=50, metadata={"help": "Steps between loss / learning-rate points in TensorBoard."}
    )
    tensorboard: bool = field(
        default=True, metadata={"help": f"Write TensorBoard event files to <output>/{TENSORBOARD_DIR}."}
    )
    num_threads: int = field(
        default=0, metadata={"help": "CPU threads for torch (0: torch's default, one per physical core)."}
    )
    device: str = field(
        default="auto", metadata={"help": "auto, cpu, cuda or cuda:N (DDP: cuda:LOCAL_RANK)."}
    )
    progress: bool = field(default=True, metadata={"help": "Show progress bars."})
    trace_dir: str = field(
        default="",
        metadata={
            "help": "Audit: each rank writes the example indices it trained on and a digest of its final "
            "weights here ('' = off)."
        },
    )

    def __post_init__(self) -> None:
        problems = []
        if self.epochs <= 0:
            problems.append(f"epochs must be > 0, got {self.epochs}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            problems.append(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.batch_size < 1:
            problems.append(f"batch_size must be >= 1, got {self.batch_size}")
        if not 8 <= self.max_length <= 4096:
            problems.append(f"max_length must be between 8 and 4096, got {self.max_length}")
        if not 0 <= self.warmup_ratio < 1:
            problems.append(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.weight_decay < 0:
            problems.append(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not 0 < self.layer_lr_decay <= 1:
            problems.append(f"layer_lr_decay must be in (0, 1], got {self.layer_lr_decay}")
        if not 0 <= self.label_smoothing < 1:
            problems.append(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0 <= self.average_tail <= 1:
            problems.append(f"average_tail must be in [0, 1], got {self.average_tail}")
        if not 0 <= self.class_weight_power <= 1:
            problems.append(f"class_weight_power must be in [0, 1], got {self.class_weight_power}")
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        for name in ("max_steps", "min_steps", "eval_every_steps", "num_threads"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("checkpoint_every_steps", "keep_checkpoints", "log_every_steps", "average_snapshots"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if problems:
            raise InvalidTrainConfig(problems)
