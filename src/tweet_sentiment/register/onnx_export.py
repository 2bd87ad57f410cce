"""The registration-time ONNX export: build int8 candidates, judge them against torch, store or refuse.

At registration the model is exported to ONNX (fp32), quantised to int8 (dynamic: int8
weights, activations quantised per batch at run time), and the int8 model's accuracy on the
evaluation split is measured against the torch model's. The int8 file is stored beside the HF
model, in ``<model>/onnx/``, only when it loses at most ``max_accuracy_drop_points``; either
way ``<model>/onnx/export.json`` records what was measured and decided. The graphs are built
in ``onnx_build.py``; ``inference.OnnxClassifier`` scores with them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tweet_sentiment.core.errors import ConfigError
from tweet_sentiment.model.inference import FP32_FILE, INT8_FILE, ONNX_DIR, REPORT_FILE, OnnxClassifier
from tweet_sentiment.model.inference_settings import inference_max_length
from tweet_sentiment.model.metrics import accuracy
from tweet_sentiment.register.onnx_build import export_onnx, optimize_for_cpu, quantize_int8

WEIGHT_TYPES = ("auto", "qint8", "qint8_mixed", "quint8")
ATTENTIONS = ("eager", "sdpa")


@dataclass
class OnnxExportConfig:
    """How the registration-time ONNX export is made and judged."""

    opset: int = field(default=17, metadata={"help": "ONNX opset of the exported graph."})
    weight_type: str = field(
        default="auto",
        metadata={
            "help": "int8 recipe: qint8 (signed weights; the fastest u8s8 kernels on x86, which can "
            "saturate without VNNI), qint8_mixed (qint8, but the feed-forward output MatMuls, fed by "
            "GELU, stay fp32), quint8 (unsigned; u8u8, no saturation, slower), or auto: the first of "
            "these three, in this order, within max_accuracy_drop_points."
        },
    )
    per_channel: bool = field(
        default=True, metadata={"help": "One quantisation scale per output channel (better accuracy)."}
    )
    attention: str = field(
        default="eager",
        metadata={
            "help": "Attention implementation traced into the graph: eager (matmul/softmax, which ONNX "
            "Runtime's fuser turns into one Attention kernel) or sdpa."
        },
    )
    fuse: bool = field(
        default=True,
        metadata={"help": "Fuse BERT sub-graphs into ONNX Runtime kernels before quantising."},
    )
    max_accuracy_drop_points: float = field(
        default=0.5,
        metadata={"help": "Refuse the int8 model when it is this many accuracy points (of 100) worse."},
    )
    keep_fp32: bool = field(
        default=False, metadata={"help": "Also store the fp32 ONNX model (about 4x the int8 size)."}
    )
    max_length: int = field(
        default=0, metadata={"help": "Tokens kept per tweet when scoring; 0: the model's own."}
    )
    batch_size: int = field(default=64, metadata={"help": "Tweets per batch when scoring."})

    def __post_init__(self) -> None:
        if self.weight_type not in WEIGHT_TYPES:
            raise ConfigError(
                f"weight_type must be one of {', '.join(WEIGHT_TYPES)}, got {self.weight_type!r}"
            )
        if self.attention not in ATTENTIONS:
            raise ConfigError(f"attention must be one of {', '.join(ATTENTIONS)}, got {self.attention!r}")
        if not 0 <= self.max_accuracy_drop_points <= 100:
            raise ConfigError(
                f"max_accuracy_drop_points must be between 0 and 100 (accuracy points), "
                f"got {self.max_accuracy_drop_points}"
            )
        if self.opset < 14:
            raise ConfigError(f"opset must be >= 14 (scaled dot-product attention), got {self.opset}")


def export_fp32(
    model_dir: str | os.PathLike[str], workdir: str | os.PathLike[str], config: OnnxExportConfig
) -> Path:
    """Export and (``config.fuse``) fuse: the fp32 graph that is then quantised."""
    workdir = Path(workdir)
    fp32_path = export_onnx(
        model_dir, workdir / "exported.onnx", opset=config.opset, attention=config.attention
    )
    if config.fuse:
        fp32_path = optimize_for_cpu(fp32_path, workdir / FP32_FILE, model_dir)
    return fp32_path


def candidate_weight_types(config: OnnxExportConfig) -> list[str]:
    return ["qint8", "qint8_mixed", "quint8"] if config.weight_type == "auto" else [config.weight_type]


def export_for_registration(
    model_dir: str | os.PathLike[str],
    texts: Sequence[str],
    labels: Sequence[int],
    config: OnnxExportConfig | None = None,
) -> dict[str, Any]:
    """Write ``<model_dir>/onnx/`` (int8 model if accepted, ``export.json`` always) and return the report.

    ``texts``/``labels`` are the evaluation split: the torch model (fp32) and each int8 candidate
    (qint8, qint8_mixed, quint8 with ``weight_type="auto"``) score the same tweets; the first candidate
    within ``max_accuracy_drop_points`` of the torch model's accuracy is stored, and the export
    is refused when none is.
    """
    from tweet_sentiment.model.loading import load_tokenizer

    config = config or OnnxExportConfig()
    if not texts:
        raise ConfigError("the ONNX export needs evaluation tweets to measure the int8 accuracy; got none")
    model_dir = Path(model_dir)
    config = replace(config, max_length=inference_max_length(model_dir, config.max_length))
    onnx_dir = model_dir / ONNX_DIR
    onnx_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer(str(model_dir))
    reference = _torch_predictions(model_dir, tokenizer, texts, config)
    started = time.perf_counter()
    files = []
    with tempfile.TemporaryDirectory(prefix="onnx-export-") as workdir:
        fp32_path = export_fp32(model_dir, workdir, config)
        attempts = []
        for weight_type in candidate_weight_types(config):
            int8_path = quantize_int8(
                fp32_path,
                Path(workdir) / f"model.{weight_type}.onnx",
                weight_type=weight_type,
                per_channel=config.per_channel,
            )
            attempts.append(_judge(int8_path, weight_type, tokenizer, texts, labels, reference, config))
            if attempts[-1]["accepted"]:
                shutil.copy2(int8_path, onnx_dir / INT8_FILE)
                files.append(f"{ONNX_DIR}/{INT8_FILE}")
                break
        if config.keep_fp32:
            shutil.copy2(fp32_path, onnx_dir / FP32_FILE)
            files.append(f"{ONNX_DIR}/{FP32_FILE}")
    report = _export_report(attempts, files, accuracy(labels, reference), len(texts), config)
    report["export_seconds"] = round(time.perf_counter() - started, 2)
    (onnx_dir / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if not report["int8_stored"]:
        print(f"ONNX int8 export REFUSED: {report['int8_refused_reason']}", flush=True)
    return report


def _torch_predictions(
    model_dir: Path, tokenizer, texts: Sequence[str], config: OnnxExportConfig
) -> list[int]:
    """The fp32 torch model's labels: the reference each int8 candidate is judged against."""
    from tweet_sentiment.model.inference import predict_probabilities
    from tweet_sentiment.model.loading import load_classifier

    model = load_classifier(str(model_dir), fresh_head=False)
    probabilities = predict_probabilities(
        model, tokenizer, texts, batch_size=config.batch_size, max_length=config.max_length, precision="fp32"
    )
    return probabilities.argmax(axis=1).tolist()


def _judge(
    int8_path: Path,
    weight_type: str,
    tokenizer,
    texts: Sequence[str],
    labels: Sequence[int],
    reference: list[int],
    config: OnnxExportConfig,
) -> dict[str, Any]:
    """Score one int8 candidate on the evaluation tweets and decide whether it may be stored."""
    probabilities = OnnxClassifier(int8_path, tokenizer).predict_probabilities(
        texts, batch_size=config.batch_size, max_length=config.max_length
    )
    predicted = probabilities.argmax(axis=1).tolist()
    int8_accuracy, torch_accuracy = accuracy(labels, predicted), accuracy(labels, reference)
    drop_points = round((torch_accuracy - int8_accuracy) * 100, 4)
    accepted = drop_points <= config.max_accuracy_drop_points
    print(
        f"ONNX int8 export ({weight_type} weights): accuracy {int8_accuracy:.4f} vs torch "
        f"{torch_accuracy:.4f} ({drop_points:+.2f} points lost) -> "
        f"{'accepted' if accepted else 'over the budget'}",
        flush=True,
    )
    return {
        "weight_type": weight_type,
        "accuracy": round(int8_accuracy, 6),
        "accuracy_drop_points": drop_points,
        "label_agreement": round(accuracy(reference, predicted), 6),
        "accepted": accepted,
    }


def _export_report(
    attempts: list[dict[str, Any]],
    files: list[str],
    torch_accuracy: float,
    examples: int,
    config: OnnxExportConfig,
) -> dict[str, Any]:
    chosen = attempts[-1]
    refused = "; ".join(
        f"int8 accuracy {a['accuracy']:.4f} ({a['weight_type']} weights) is "
        f"{a['accuracy_drop_points']:.2f} points below torch fp32 {torch_accuracy:.4f} on "
        f"{examples} tweets (allowed: {config.max_accuracy_drop_points} points)"
        for a in attempts
    )
    return {
        "examples": examples,
        "max_length": config.max_length,
        "torch_fp32_accuracy": round(torch_accuracy, 6),
        "onnx_int8_accuracy": chosen["accuracy"],
        "int8_accuracy_drop_points": chosen["accuracy_drop_points"],
        "int8_label_agreement": chosen["label_agreement"],
        "int8_weight_type": chosen["weight_type"],
        "int8_stored": chosen["accepted"],
        "int8_refused_reason": None if chosen["accepted"] else refused,
        "attempts": attempts,
        "files": files,
        "config": asdict(config),
    }


def registry_metadata(report: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Flat ``(metrics, parameters)`` entries for the registry's metadata from an export report."""
    metrics = {
        "onnx_int8_accuracy": report["onnx_int8_accuracy"],
        "onnx_torch_fp32_accuracy": report["torch_fp32_accuracy"],
        "onnx_int8_accuracy_drop_points": report["int8_accuracy_drop_points"],
        "onnx_int8_examples": report["examples"],
    }
    parameters = {
        "onnx_int8_status": "stored"
        if report["int8_stored"]
        else f"refused: {report['int8_refused_reason']}",
        "onnx_files": ",".join(report["files"]),
        "onnx_int8_weight_type": report.get("int8_weight_type", ""),
    }
    return metrics, parameters


def model_copy_with_onnx(
    model_dir: str | os.PathLike[str],
    dataset_dir: str | os.PathLike[str],
    eval_split: str,
    workdir: str | os.PathLike[str],
    config: OnnxExportConfig | None = None,
) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """Copy ``model_dir`` into ``workdir``, add the ONNX export judged on ``eval_split`` of the dataset.

    Returns ``(copy, metrics, parameters)``: the directory to register and the flat metadata
    entries recording the int8 accuracy and whether the int8 model was stored or refused.
    The input model directory (a pipeline artifact) is left untouched.
    """
    from tweet_sentiment.core.dataset import load_split

    split = load_split(dataset_dir, eval_split)
    copy = Path(workdir) / "model"
    shutil.copytree(model_dir, copy, ignore=shutil.ignore_patterns(ONNX_DIR))
    report = export_for_registration(copy, split.texts, split.labels, config)
    metrics, parameters = registry_metadata(report)
    parameters["onnx_eval_split"] = eval_split
    return copy, metrics, parameters
