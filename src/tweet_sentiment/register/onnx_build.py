"""Building the ONNX graphs: export from torch, fuse for CPU, quantise to int8.

Judging the result (is the int8 model accurate enough to store?) is ``onnx_export.py``; scoring
with it is ``inference.OnnxClassifier``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tweet_sentiment.model.inference import INPUT_NAMES


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

    from tweet_sentiment.model.loading import load_classifier

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
