"""Batched scoring shared by evaluation, training-time validation and prediction: torch and ONNX Runtime.

The ONNX files a registered model may carry live in ``<model>/onnx/`` (``onnx_model_path``);
they are made and judged at registration (``register.onnx_build``, ``register.onnx_export``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from tweet_sentiment.core.errors import ConfigError, ModelSourceError
from tweet_sentiment.model.inference_settings import inference_max_length, read_inference_settings

ONNX_DIR = "onnx"
FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
REPORT_FILE = "export.json"
VARIANT_FILES = {"int8": INT8_FILE, "fp32": FP32_FILE}
INPUT_NAMES = ("input_ids", "attention_mask")


def choose_device(requested: str = "auto"):
    import torch

    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def autocast_dtype(precision: str, device) -> object | None:
    """The autocast dtype for ``precision`` on ``device``; None means plain fp32."""
    import torch

    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    # auto: mixed precision where the hardware has it. On CPU, fp32 until measured otherwise.
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return None


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of this machine (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_native_bf16() -> bool:
    """True where bf16 matmuls run in hardware (AVX-512 BF16 or AMX); elsewhere bf16 is emulated and slow."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def available_cpus() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota (containers)."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        count = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="utf-8") as handle:
            quota, period = handle.read().split()
        if quota != "max":
            count = min(count, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, count)


def set_cpu_threads(threads: int = 0) -> int:
    """Use ``threads`` intra-op threads (0: one per available CPU). Returns the number set."""
    import torch

    threads = threads or available_cpus()
    torch.set_num_threads(threads)
    return threads


def inference_precision(requested: str, device) -> str:
    """Resolve ``auto`` for scoring: bf16 on GPUs and on CPUs with native bf16, else fp32.

    Only for inference: training keeps :func:`autocast_dtype`'s fp32-on-CPU default.
    """
    if requested != "auto":
        return requested
    if device.type == "cuda" or cpu_has_native_bf16():
        return "bf16"
    return "fp32"


def length_sorted_batches(
    lengths: Sequence[int], *, batch_size: int = 64, max_batch_tokens: int = 0
) -> list[np.ndarray]:
    """Indices grouped into batches of similar length (shortest first).

    With ``max_batch_tokens`` a batch also stops growing once ``rows x longest`` would exceed
    it, so short tweets go in big batches and long ones in small batches (dynamic batching).
    """
    order = np.argsort(np.asarray(lengths), kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    while start < len(order):
        end = min(start + batch_size, len(order))
        if max_batch_tokens:
            # Sorted ascending, so the last row of a candidate batch is its longest.
            while end - start > 1 and (end - start) * lengths[order[end - 1]] > max_batch_tokens:
                end -= 1
        batches.append(order[start:end])
        start = end
    return batches


def score_encoded(
    encoded: Sequence[Sequence[int]],
    forward: Callable[[object, object], np.ndarray],
    *,
    num_labels: int,
    pad_id: int,
    batch_size: int = 64,
    max_batch_tokens: int = 0,
) -> np.ndarray:
    """Probabilities for token-id lists, in input order. ``forward(input_ids, attention_mask)`` returns
    logits for one padded batch (torch tensors in, numpy out); any backend can supply it."""
    probabilities = np.zeros((len(encoded), num_labels), dtype=np.float32)
    lengths = [len(ids) for ids in encoded]
    for index in length_sorted_batches(lengths, batch_size=batch_size, max_batch_tokens=max_batch_tokens):
        input_ids, attention_mask = pad_batch([encoded[i] for i in index], pad_id)
        logits = np.asarray(forward(input_ids, attention_mask), dtype=np.float32)
        probabilities[index] = softmax(logits)
    return probabilities


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def predict_probabilities(
    model,
    tokenizer,
    texts: Sequence[str],
    *,
    batch_size: int = 64,
    max_length: int = 128,
    precision: str = "auto",
    max_batch_tokens: int = 0,
) -> np.ndarray:
    """Class probabilities for ``texts`` (shape ``[n, num_labels]``), in input order.

    Texts are scored in length-sorted batches so that padding stays small.
    """
    import torch

    if len(texts) == 0:
        return np.zeros((0, model.config.num_labels), dtype=np.float32)
    device = next(model.parameters()).device
    dtype = autocast_dtype(precision, device)
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    model.eval()

    def forward(input_ids, attention_mask) -> np.ndarray:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            logits = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).logits
        return logits.float().cpu().numpy()

    with torch.inference_mode():
        return score_encoded(
            encoded,
            forward,
            num_labels=model.config.num_labels,
            pad_id=tokenizer.pad_token_id or 0,
            batch_size=batch_size,
            max_batch_tokens=max_batch_tokens,
        )


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int, multiple_of: int = 8):
    """Pad to the longest sequence in the batch (rounded up to ``multiple_of`` for tensor cores)."""
    import torch

    longest = max(len(s) for s in sequences)
    longest = -(-longest // multiple_of) * multiple_of
    input_ids = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), longest), dtype=torch.long)
    for row, ids in enumerate(sequences):
        input_ids[row, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
        attention_mask[row, : len(ids)] = 1
    return input_ids, attention_mask


class OnnxClassifier:
    """An ONNX Runtime session plus the tokenizer; scores texts in length-sorted batches."""

    def __init__(self, onnx_path: str | os.PathLike[str], tokenizer, *, threads: int = 0):
        import onnxruntime as ort

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


BACKENDS = ("torch", "onnx", "auto")


class Scorer:
    """Texts in, probabilities out, on the CPU, with torch or the model's stored ONNX export.

    ``backend``: torch, onnx, or auto (onnx where the model carries ``onnx_variant``, else torch).
    ``scorer(texts)`` takes normalised texts (any model); ``scorer.score_raw(texts)`` takes raw tweets
    and normalises them in Python only for a model whose tokenizer does not (saved before it did).
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        *,
        backend: str = "torch",
        onnx_variant: str = "int8",
        precision: str = "auto",
        threads: int = 0,
        batch_size: int = 64,
        max_length: int = 0,
        max_batch_tokens: int = 4096,
    ):
        import torch

        from tweet_sentiment.model.loading import load_classifier, load_tokenizer
        from tweet_sentiment.model.tokenizer import tokenizer_normalizes

        if backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        threads = set_cpu_threads(threads)
        settings = read_inference_settings(model_dir)
        self.options = {
            "batch_size": batch_size,
            # 0: the model's own (saved with it by training); another value overrides it
            "max_length": inference_max_length(model_dir, max_length, settings),
            "max_batch_tokens": max_batch_tokens,
        }
        self.tokenizer = load_tokenizer(str(model_dir))
        self.tokenizer_normalizes = tokenizer_normalizes(settings, self.tokenizer, model_dir)
        if backend == "auto":
            backend = "onnx" if has_onnx_model(model_dir, onnx_variant) else "torch"
        self.onnx: OnnxClassifier | None = None
        if backend == "onnx":
            self.onnx = OnnxClassifier(
                onnx_model_path(model_dir, onnx_variant), self.tokenizer, threads=threads
            )
            self.description = f"onnx {onnx_variant} ({self.onnx.path})"
        else:
            self.model = load_classifier(str(model_dir), fresh_head=False).eval()
            self.precision = inference_precision(precision, torch.device("cpu"))
            self.description = f"torch {self.precision} ({model_dir})"

    def score_raw(self, texts: list[str]) -> np.ndarray:
        """Probabilities for raw tweets: as ``pipeline()`` on the saved folder sees them."""
        from tweet_sentiment.core.text import normalize_tweet

        return self(texts if self.tokenizer_normalizes else [normalize_tweet(t) for t in texts])

    def __call__(self, texts: list[str]) -> np.ndarray:
        if self.onnx is not None:
            return self.onnx.predict_probabilities(texts, **self.options)
        return predict_probabilities(
            self.model, self.tokenizer, texts, precision=self.precision, **self.options
        )
