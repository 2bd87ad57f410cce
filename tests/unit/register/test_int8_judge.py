"""The int8 ONNX judge, in both directions, with a model that has learnt the task.

* The tiny model trained on the synthetic tweets: its int8 copy is as accurate as torch, and is stored.
* The same model with an outlier feature: dimension 0 of the last layer's output is scaled by 1e4 (its
  LayerNorm weight and bias) and the pooler's weights reading it are divided by 1e4. The last layer's
  output feeds only the pooler, so in fp32 the model computes the same function (its predictions are
  checked equal); but dynamic int8 quantises the pooler's input with one scale per tensor, set by the
  outlier, so the other features round to zero and the int8 copy falls to chance: refused. (Outlier
  features are how real transformers break per-tensor int8: Dettmers et al. 2022, LLM.int8().)
"""

from __future__ import annotations

import shutil

import pytest
from safetensors.torch import load_file, save_file

from tests.fakes.tweets import make_tweets
from tweet_sentiment.core.errors import ModelSourceError
from tweet_sentiment.model.inference import onnx_model_path
from tweet_sentiment.register.onnx_export import OnnxExportConfig, export_for_registration

BUDGET = 2.0  # accuracy points: 3 tweets of the 150 judged
OUTLIER = 1e4
ROWS = make_tweets(150, seed=7)
TEXTS, LABELS = [r["text"] for r in ROWS], [r["label"] for r in ROWS]


def _copy(model_dir, target):
    shutil.copytree(model_dir, target, ignore=shutil.ignore_patterns("onnx"))
    return target


def _with_outlier_feature(model_dir, target):
    _copy(model_dir, target)
    weights = load_file(target / "model.safetensors")
    for name in (
        "bert.encoder.layer.1.output.LayerNorm.weight",
        "bert.encoder.layer.1.output.LayerNorm.bias",
    ):
        weights[name][0] *= OUTLIER
    weights["bert.pooler.dense.weight"][:, 0] /= OUTLIER
    save_file(weights, str(target / "model.safetensors"), metadata={"format": "pt"})
    return target


def _torch_labels(model_dir):
    from tweet_sentiment.model.inference import predict_probabilities
    from tweet_sentiment.model.loading import load_classifier, load_tokenizer

    model = load_classifier(str(model_dir), fresh_head=False)
    probabilities = predict_probabilities(
        model, load_tokenizer(str(model_dir)), TEXTS, max_length=32, precision="fp32"
    )
    return probabilities.argmax(axis=1).tolist()


def test_an_int8_copy_as_accurate_as_torch_is_stored(trained_model_dir, tmp_path):
    model_dir = _copy(trained_model_dir, tmp_path / "model")

    report = export_for_registration(
        model_dir, TEXTS, LABELS, OnnxExportConfig(max_accuracy_drop_points=BUDGET)
    )

    assert report["torch_fp32_accuracy"] >= 0.9  # the model has learnt the task
    assert report["int8_accuracy_drop_points"] <= BUDGET and report["onnx_int8_accuracy"] >= 0.9
    assert report["int8_stored"] is True and report["int8_refused_reason"] is None
    assert (model_dir / "onnx" / "model.int8.onnx").exists()


def test_an_int8_copy_measurably_worse_is_refused_unless_the_budget_allows_its_loss(
    trained_model_dir, tmp_path
):
    model_dir = _with_outlier_feature(trained_model_dir, tmp_path / "outlier")
    assert _torch_labels(model_dir) == _torch_labels(trained_model_dir)  # the same model, in fp32

    report = export_for_registration(
        model_dir, TEXTS, LABELS, OnnxExportConfig(max_accuracy_drop_points=BUDGET)
    )

    assert report["torch_fp32_accuracy"] >= 0.9
    assert [a["weight_type"] for a in report["attempts"]] == ["qint8", "qint8_mixed", "quint8"]
    assert all(a["accuracy_drop_points"] > 10 * BUDGET for a in report["attempts"])  # measurably worse
    assert report["int8_stored"] is False
    assert not (model_dir / "onnx" / "model.int8.onnx").exists()
    assert "points below torch" in report["int8_refused_reason"]
    for recipe in ("qint8", "qint8_mixed", "quint8"):  # every recipe tried is named with its figure
        assert f"({recipe} weights)" in report["int8_refused_reason"]
    with pytest.raises(ModelSourceError, match="no int8 ONNX model: int8 accuracy"):
        onnx_model_path(model_dir, "int8")  # predict/serve are told why there is none

    # The same loss within a budget set just above it: stored (the budget decides, not the loss alone).
    drop = report["attempts"][0]["accuracy_drop_points"]
    again = _copy(model_dir, tmp_path / "again")
    config = OnnxExportConfig(max_accuracy_drop_points=drop + 0.5, weight_type="qint8")
    report = export_for_registration(again, TEXTS, LABELS, config)
    assert report["int8_accuracy_drop_points"] == drop and report["int8_stored"] is True
    assert (again / "onnx" / "model.int8.onnx").exists()
