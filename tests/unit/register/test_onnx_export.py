"""ONNX export: fp32 agrees with torch; int8 is stored only within the accuracy budget, else refused."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.fakes.tweets import make_tweets


@pytest.fixture(scope="module")
def onnx_fp32_path(tiny_model_dir, tmp_path_factory):
    """The fp32 graph the registration recipe quantises (exported, then fused for ONNX Runtime)."""
    from tweet_sentiment.register.onnx_export import OnnxExportConfig, export_fp32

    return export_fp32(tiny_model_dir, tmp_path_factory.mktemp("onnx"), OnnxExportConfig())


def test_fp32_onnx_agrees_with_torch_on_labels(tiny_model_dir, onnx_fp32_path):
    from tweet_sentiment.model.inference import OnnxClassifier, predict_probabilities
    from tweet_sentiment.model.loading import load_classifier, load_tokenizer

    # 2,000 texts of many lengths, scored in padded batches: one disagreement in 1,000 is the limit.
    texts = [row["text"] for row in make_tweets(2000, seed=11)]
    texts[::7] = [t + " " + " ".join(["really"] * (i % 40)) for i, t in enumerate(texts[::7])]
    tokenizer = load_tokenizer(str(tiny_model_dir))
    torch_probabilities = predict_probabilities(
        load_classifier(str(tiny_model_dir), fresh_head=False), tokenizer, texts, precision="fp32"
    )
    onnx_probabilities = OnnxClassifier(onnx_fp32_path, tokenizer).predict_probabilities(texts, batch_size=37)
    agreement = (torch_probabilities.argmax(1) == onnx_probabilities.argmax(1)).mean()
    assert agreement >= 0.999, agreement
    np.testing.assert_allclose(onnx_probabilities, torch_probabilities, atol=1e-4)


def _copy(model_dir, tmp_path):
    target = tmp_path / "model"
    shutil.copytree(model_dir, target)
    return target


# Stored within the budget, refused beyond it, with a model that has learnt the task: test_int8_judge.py.


def test_int8_export_stops_at_the_first_weight_type_within_budget(tiny_model_dir, tmp_path):
    from tweet_sentiment.model.inference import OnnxClassifier
    from tweet_sentiment.model.loading import load_tokenizer
    from tweet_sentiment.register.onnx_export import OnnxExportConfig, export_for_registration

    model_dir = _copy(tiny_model_dir, tmp_path)
    rows = make_tweets(60, seed=6)
    texts = [r["text"] for r in rows]
    report = export_for_registration(
        model_dir, texts, [r["label"] for r in rows], OnnxExportConfig(max_accuracy_drop_points=100.0)
    )
    assert report["int8_stored"] and report["int8_weight_type"] == "qint8"
    assert [a["weight_type"] for a in report["attempts"]] == ["qint8"]
    stored = OnnxClassifier(model_dir / "onnx" / "model.int8.onnx", load_tokenizer(str(model_dir)))
    assert stored.predict_probabilities(texts).shape == (60, 3)


def test_the_mixed_recipe_keeps_exactly_the_feed_forward_output_matmuls_in_fp32(tiny_model_dir, tmp_path):
    import onnx

    from tweet_sentiment.register.onnx_build import matmuls_fed_by_gelu, quantize_int8
    from tweet_sentiment.register.onnx_export import OnnxExportConfig, export_fp32

    for fuse in (False, True):  # GELU as Erf arithmetic, and as ORT's fused BiasGelu
        fp32 = export_fp32(tiny_model_dir, tmp_path / str(fuse), OnnxExportConfig(fuse=fuse))
        names = matmuls_fed_by_gelu(onnx.load(str(fp32)).graph)
        assert names == [f"/bert/encoder/layer.{i}/output/dense/MatMul" for i in range(2)], names
        mixed = onnx.load(str(quantize_int8(fp32, tmp_path / f"{fuse}.onnx", weight_type="qint8_mixed")))
        assert {n.name for n in mixed.graph.node if n.op_type == "MatMul"} >= set(names)
        assert any(n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul") for n in mixed.graph.node)
