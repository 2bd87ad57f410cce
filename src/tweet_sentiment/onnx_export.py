"""ONNX export, dynamic int8 quantisation and ONNX Runtime scoring of a trained classifier.

At registration the model is exported to ONNX (fp32), quantised to int8 (dynamic: int8
weights, activations quantised per batch at run time), and the int8 model's accuracy on the
evaluation split is measured against the torch model's. The int8 file is stored beside the HF
model, in ``<model>/onnx/``, only when it loses at most ``max_accuracy_drop_points``; either
way ``<model>/onnx/export.json`` records what was measured and decided.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tweet_sentiment.errors import ConfigError, ModelSourceError
from tweet_sentiment.metrics import accuracy

ONNX_DIR = "onnx"
FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
REPORT_FILE = "export.json"
VARIANT_FILES = {"int8": INT8_FILE, "fp32": FP32_FILE}
INPUT_NAMES = ("input_ids", "attention_mask")
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
    max_length: int = field(default=128, metadata={"help": "Tokens kept per tweet when scoring."})
    batch_size: int = field(default=64, metadata={"help": "Tweets per batch when scoring."})

    def __post_init__(self) -> None:
        if self.weight_type not in WEIGHT_TYPES:
            raise ConfigError(
                f"weight_type must be one of {', '.join(WEIGHT_TYPES)}, got {self.weight_type!r}"
            )
        if self.attention not in ATTENTIONS:
            raise ConfigError(f"attention must be one of {', '.join(ATTENTIONS)}, got {self.attention!r}")
        if self.opset < 14:
            raise ConfigError(f"opset must be >= 14 (scaled dot-product attention), got {self.opset}")


def export_onnx(
    model_dir: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    opset: int = 17,
    attention: str = "eager",
) -> Path:
    """Export the HF classifier in ``model_dir`` to an fp32 ONNX graph with dynamic batch and sequence axes.

    Uses the TorchScript-based exporter (``dynamo=False``): it needs no extra package and
    produces a graph ONNX Runtime's quantiser handles; the graph is checked against torch in
    the tests on padded batches of several lengths.
    """
    import warnings

    import torch

    from tweet_sentiment.modeling import load_classifier

    model = load_classifier(str(model_dir), fresh_head=False, attn_implementation=attention).eval()
    # A batch with padding, so the traced graph keeps the attention-mask path.
    input_ids = torch.tensor([[101, 2023, 2003, 1037, 3231, 102], [101, 2023, 102, 0, 0, 0]])
    attention_mask = (input_ids != 0).long()
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    axes = {0: "batch", 1: "sequence"}
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer warnings are expected
        torch.onnx.export(
            model,
            (input_ids, attention_mask),
            str(output_path),
            input_names=list(INPUT_NAMES),
            output_names=["logits"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "logits": {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )
    return output_path


def optimize_for_cpu(
    fp32_path: str | os.PathLike[str], output_path: str | os.PathLike[str], model_dir: str | os.PathLike[str]
) -> Path:
    """Fuse BERT sub-graphs into ONNX Runtime kernels (SkipLayerNormalization, BiasGelu).

    Measured on the 2-core bench machine: int8 of the fused graph scored ~2.4x the tweets/s of
    int8 of the plain graph (BENCHMARKS.md), with the same label agreement against torch.
    """
    import warnings

    from onnxruntime.transformers.optimizer import optimize_model

    config = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optimized = optimize_model(
            str(fp32_path),
            model_type="bert",
            num_heads=int(config.get("num_attention_heads", 0)),
            hidden_size=int(config.get("hidden_size", 0)),
        )
    optimized.save_model_to_file(str(output_path))
    return Path(output_path)


GELU_OPS = ("Gelu", "BiasGelu", "FastGelu", "QuickGelu")


def matmuls_fed_by_gelu(graph) -> list[str]:
    """Names of the MatMul nodes whose input is a GELU's output (the feed-forward output projections).

    Found by graph structure, not by name, so it holds for BERT, DistilBERT and the like. Their
    inputs have a long positive tail that per-tensor dynamic uint8 quantisation handles worst.
    """
    gelu_outputs = {out for node in graph.node if node.op_type in GELU_OPS for out in node.output}
    # Unfused, GELU is x * 0.5 * (1 + erf(x / sqrt 2)): a Mul taking an Add of an Erf, maybe one more Mul.
    producers = {out: node for node in graph.node for out in node.output}

    def is_erf_plus_one(name: str) -> bool:
        add = producers.get(name)
        return (
            add is not None
            and add.op_type == "Add"
            and any(getattr(producers.get(i), "op_type", "") == "Erf" for i in add.input)
        )

    for _ in range(2):  # the Mul by x, then the Mul by 0.5 (in either order)
        for node in graph.node:
            if node.op_type == "Mul" and any(is_erf_plus_one(i) or i in gelu_outputs for i in node.input):
                gelu_outputs.update(node.output)
    return [n.name for n in graph.node if n.op_type == "MatMul" and n.input[0] in gelu_outputs]


def quantize_int8(
    fp32_path: str | os.PathLike[str],
    int8_path: str | os.PathLike[str],
    *,
    weight_type: str = "qint8",
    per_channel: bool = True,
) -> Path:
    """Dynamic int8 quantisation of the MatMul/Gemm/Attention weights (activations quantised at run time).

    ``weight_type``: qint8, quint8, or qint8_mixed (qint8, but the MatMuls fed by a GELU stay fp32).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quant_type = QuantType.QUInt8 if weight_type == "quint8" else QuantType.QInt8
    excluded = matmuls_fed_by_gelu(onnx.load(str(fp32_path)).graph) if weight_type == "qint8_mixed" else []
    quantize_dynamic(
        str(fp32_path),
        str(int8_path),
        weight_type=quant_type,
        per_channel=per_channel,
        op_types_to_quantize=["MatMul", "Gemm", "Attention"],
        nodes_to_exclude=excluded,
        # Fused ORT ops (SkipLayerNormalization, BiasGelu) defeat shape inference; their outputs are fp32.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    return Path(int8_path)


class OnnxClassifier:
    """An ONNX Runtime session plus the tokenizer; scores texts in length-sorted batches."""

    def __init__(self, onnx_path: str | os.PathLike[str], tokenizer, *, threads: int = 0):
        import onnxruntime as ort

        from tweet_sentiment.inference import available_cpus

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or available_cpus()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelSourceError(
                f"cannot load ONNX model {onnx_path}: {type(exc).__name__}: {exc}"
            ) from None
        self.tokenizer = tokenizer
        self.num_labels = int(self.session.get_outputs()[0].shape[-1])
        self.path = Path(onnx_path)

    def logits(self, input_ids, attention_mask) -> np.ndarray:
        feed = {"input_ids": np.asarray(input_ids, dtype=np.int64)}
        feed["attention_mask"] = np.asarray(attention_mask, dtype=np.int64)
        return self.session.run(None, feed)[0]

    def predict_probabilities(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 64,
        max_length: int = 128,
        max_batch_tokens: int = 0,
    ) -> np.ndarray:
        from tweet_sentiment.inference import score_encoded

        if len(texts) == 0:
            return np.zeros((0, self.num_labels), dtype=np.float32)
        encoded = self.tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
        return score_encoded(
            encoded,
            lambda ids, mask: self.logits(ids.numpy(), mask.numpy()),
            num_labels=self.num_labels,
            pad_id=self.tokenizer.pad_token_id or 0,
            batch_size=batch_size,
            max_batch_tokens=max_batch_tokens,
        )


def onnx_model_path(model_dir: str | os.PathLike[str], variant: str = "int8") -> Path:
    """The stored ONNX file of ``variant`` (int8 or fp32) in a model directory, or a clear error why not."""
    if variant not in VARIANT_FILES:
        raise ConfigError(f"ONNX variant must be one of {', '.join(VARIANT_FILES)}, got {variant!r}")
    onnx_dir = Path(model_dir) / ONNX_DIR
    path = onnx_dir / VARIANT_FILES[variant]
    if path.exists():
        return path
    report_path = onnx_dir / REPORT_FILE
    if report_path.exists():
        report = json.loads(report_path.read_text(encoding="utf-8"))
        why = report.get("int8_refused_reason") if variant == "int8" else "the fp32 graph was not kept"
        raise ModelSourceError(
            f"{model_dir} has no {variant} ONNX model: {why or 'not stored'}; use --backend torch"
        )
    raise ModelSourceError(
        f"{model_dir} has no ONNX export ({ONNX_DIR}/{VARIANT_FILES[variant]}); it is made when a model is "
        "registered, or with export_for_registration(); use --backend torch"
    )


def has_onnx_model(model_dir: str | os.PathLike[str], variant: str = "int8") -> bool:
    return (Path(model_dir) / ONNX_DIR / VARIANT_FILES[variant]).exists()


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
    from tweet_sentiment.inference import predict_probabilities
    from tweet_sentiment.modeling import load_classifier, load_tokenizer

    config = config or OnnxExportConfig()
    if not texts:
        raise ConfigError("the ONNX export needs evaluation tweets to measure the int8 accuracy; got none")
    model_dir = Path(model_dir)
    onnx_dir = model_dir / ONNX_DIR
    onnx_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer(str(model_dir))
    torch_model = load_classifier(str(model_dir), fresh_head=False)
    torch_probabilities = predict_probabilities(
        torch_model,
        tokenizer,
        texts,
        batch_size=config.batch_size,
        max_length=config.max_length,
        precision="fp32",
    )
    del torch_model
    torch_predicted = torch_probabilities.argmax(axis=1).tolist()
    torch_accuracy = accuracy(labels, torch_predicted)

    started = time.perf_counter()
    attempts: list[dict[str, Any]] = []
    files = []
    with tempfile.TemporaryDirectory(prefix="onnx-export-") as workdir:
        fp32_path = export_fp32(model_dir, workdir, config)
        for weight_type in candidate_weight_types(config):
            int8_path = quantize_int8(
                fp32_path,
                Path(workdir) / f"model.{weight_type}.onnx",
                weight_type=weight_type,
                per_channel=config.per_channel,
            )
            int8_probabilities = OnnxClassifier(int8_path, tokenizer).predict_probabilities(
                texts, batch_size=config.batch_size, max_length=config.max_length
            )
            int8_predicted = int8_probabilities.argmax(axis=1).tolist()
            int8_accuracy = accuracy(labels, int8_predicted)
            drop_points = round((torch_accuracy - int8_accuracy) * 100, 4)
            attempt = {
                "weight_type": weight_type,
                "accuracy": round(int8_accuracy, 6),
                "accuracy_drop_points": drop_points,
                "label_agreement": round(accuracy(torch_predicted, int8_predicted), 6),
                "accepted": drop_points <= config.max_accuracy_drop_points,
            }
            attempts.append(attempt)
            print(
                f"ONNX int8 export ({weight_type} weights): accuracy {int8_accuracy:.4f} vs torch "
                f"{torch_accuracy:.4f} ({drop_points:+.2f} points lost) -> "
                f"{'accepted' if attempt['accepted'] else 'over the budget'}",
                flush=True,
            )
            if attempt["accepted"]:
                shutil.copy2(int8_path, onnx_dir / INT8_FILE)
                files.append(f"{ONNX_DIR}/{INT8_FILE}")
                break
        if config.keep_fp32:
            shutil.copy2(fp32_path, onnx_dir / FP32_FILE)
            files.append(f"{ONNX_DIR}/{FP32_FILE}")
    chosen = attempts[-1]
    accepted = chosen["accepted"]
    report: dict[str, Any] = {
        "examples": len(texts),
        "torch_fp32_accuracy": round(torch_accuracy, 6),
        "onnx_int8_accuracy": chosen["accuracy"],
        "int8_accuracy_drop_points": chosen["accuracy_drop_points"],
        "int8_label_agreement": chosen["label_agreement"],
        "int8_weight_type": chosen["weight_type"],
        "int8_stored": accepted,
        "int8_refused_reason": None
        if accepted
        else "; ".join(
            f"int8 accuracy {a['accuracy']:.4f} ({a['weight_type']} weights) is "
            f"{a['accuracy_drop_points']:.2f} points below torch fp32 {torch_accuracy:.4f} on "
            f"{len(texts)} tweets (allowed: {config.max_accuracy_drop_points} points)"
            for a in attempts
        ),
        "attempts": attempts,
        "files": files,
        "export_seconds": round(time.perf_counter() - started, 2),
        "config": asdict(config),
    }
    (onnx_dir / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if not accepted:
        print(f"ONNX int8 export REFUSED: {report['int8_refused_reason']}", flush=True)
    return report


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
    from tweet_sentiment.data import load_split

    split = load_split(dataset_dir, eval_split)
    copy = Path(workdir) / "model"
    shutil.copytree(model_dir, copy, ignore=shutil.ignore_patterns(ONNX_DIR))
    report = export_for_registration(copy, split.texts, split.labels, config)
    metrics, parameters = registry_metadata(report)
    parameters["onnx_eval_split"] = eval_split
    return copy, metrics, parameters
