"""The gate: floors, degenerate-model guard and champion/challenger, on real (tiny) models."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tweet_sentiment.core.dataset import load_split
from tweet_sentiment.core.errors import ConfigError
from tweet_sentiment.evaluate.config import EvaluateConfig
from tweet_sentiment.evaluate.gate import apply_gate
from tweet_sentiment.evaluate.report import render_html_report
from tweet_sentiment.evaluate.run import evaluate
from tweet_sentiment.model.metrics import classification_report
from tweet_sentiment.registry import register_model
from tweet_sentiment.registry.evaluation import ChampionScore, EvaluationResult


def _report(labels, predictions):
    return classification_report(labels, predictions)


def _copy_model(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def _with_head(model_dir: Path, target: Path, weight: np.ndarray, bias: np.ndarray) -> Path:
    """A copy of ``model_dir`` with the classifier head replaced."""
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
        model.classifier.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
    _copy_model(model_dir, target)
    model.save_pretrained(target, safe_serialization=True)
    return target


@pytest.fixture(scope="module")
def fitted_model_dir(tiny_model_dir, dataset_dir, tmp_path_factory) -> Path:
    """The tiny random encoder with a least-squares head fitted on the train split: better than chance."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir).eval()
    train = load_split(dataset_dir, "train")
    encoded = tokenizer(train.texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        features = model.bert(**encoded).pooler_output.numpy()
    features = np.hstack([features, np.ones((len(features), 1))])
    targets = np.eye(3)[train.labels]
    solution = np.linalg.solve(features.T @ features + 1e-3 * np.eye(features.shape[1]), features.T @ targets)
    return _with_head(tiny_model_dir, tmp_path_factory.mktemp("fitted") / "m", solution[:-1].T, solution[-1])


@pytest.fixture(scope="module")
def always_neutral_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    hidden = json.loads((tiny_model_dir / "config.json").read_text())["hidden_size"]
    return _with_head(
        tiny_model_dir,
        tmp_path_factory.mktemp("neutral") / "m",
        np.zeros((3, hidden)),
        np.array([0.0, 5.0, 0.0]),
    )


def _champion_registry(tmp_path: Path, model_dir: Path) -> str:
    uri = str(tmp_path / "registry")
    register_model(
        uri,
        model_dir,
        metrics={},
        parameters={},
        dataset_fingerprint="x",
        run_id="champion-run",
        gate={"passed": True},
        promote=True,
    )
    return uri


# ----------------------------------------------------------------------------- rules on reports


def test_floors_and_every_reason_collected():
    labels = [0, 1, 2] * 10
    report = _report(labels, [1] * 30)
    decision = apply_gate(report, EvaluateConfig(min_accuracy=0.5, min_macro_recall=0.5))
    assert not decision.passed
    text = "\n".join(decision.reasons)
    assert "accuracy 0.3333 is below the minimum 0.5000" in text
    assert "macro_recall" in text and "degenerate model" in text
    assert len(decision.reasons) == 4  # two floors, collapse, majority baseline


def test_a_gate_metric_is_one_config_field_marked_with_the_figure_it_floors():
    """README "add a gate metric": a field with FLOOR_OF in its metadata is checked, nothing else to edit."""
    import dataclasses

    from tweet_sentiment.evaluate.config import FLOOR_OF
    from tweet_sentiment.evaluate.gate import gate_floors

    assert gate_floors(EvaluateConfig(min_accuracy=0.6)) == {"accuracy": 0.6, "macro_recall": 0.0}

    @dataclasses.dataclass
    class WithF1Floor(EvaluateConfig):
        min_macro_f1: float = dataclasses.field(
            default=0.95, metadata={"help": "F1 floor", FLOOR_OF: "macro_f1"}
        )

    labels = [0, 1, 2] * 10
    report = _report(labels, labels[:27] + [0, 0, 0])  # accuracy 0.93, macro F1 0.93: below 0.95
    loose = EvaluateConfig(min_accuracy=0.0, min_gain_over_majority=-1.0)
    assert apply_gate(report, loose).passed
    decision = apply_gate(report, WithF1Floor(min_accuracy=0.0, min_gain_over_majority=-1.0))
    assert decision.reasons == [f"macro_f1 {report['macro_f1']:.4f} is below the minimum 0.9500"]
    with pytest.raises(ValueError, match="min_macro_f1 must be between 0 and 1"):
        WithF1Floor(min_macro_f1=90)


def test_always_neutral_rejected_even_above_the_accuracy_floor():
    labels = [1] * 60 + [0] * 20 + [2] * 20  # neutral-heavy: always-neutral scores 0.60
    report = _report(labels, [1] * 100)
    decision = apply_gate(report, EvaluateConfig(min_accuracy=0.55))
    assert report["accuracy"] == pytest.approx(0.60)
    assert not decision.passed
    assert not any("below the minimum" in r for r in decision.reasons)
    assert any("100.0% of predictions are 'neutral'" in r for r in decision.reasons)
    assert any("does not beat always predicting 'neutral'" in r for r in decision.reasons)


def test_champion_challenger_rules():
    labels = [0, 1, 2] * 10
    good = _report(labels, labels)
    worse = _report(labels, [0, 1, 2] * 8 + [1, 2, 0] * 2)  # 24/30 right
    champion = ChampionScore(3, good)
    decision = apply_gate(worse, EvaluateConfig(), champion)
    assert not decision.passed
    assert decision.reasons == [
        "champion/challenger: candidate macro_recall 0.8000 vs champion (version 3) 1.0000: -0.2000, "
        "worse than the allowed regression of 0.0000"
    ]
    assert apply_gate(worse, EvaluateConfig(max_regression=0.25), champion).passed
    assert apply_gate(good, EvaluateConfig(), champion).passed  # equal is not worse
    first = apply_gate(worse, EvaluateConfig(), ChampionScore(None))
    assert first.passed and "first model passes by definition" in first.notes[0]
    broken = apply_gate(good, EvaluateConfig(), ChampionScore(3, error="OSError: gone"))
    assert not broken.passed and "could not be scored" in broken.reasons[0]


def test_config_validation_names_the_problem():
    from tweet_sentiment.core.errors import ConfigError

    with pytest.raises(ConfigError, match="max_regression must be between 0 and 1"):
        EvaluateConfig(max_regression=5)
    with pytest.raises(ConfigError, match="champion_metric must be one of"):
        EvaluateConfig(champion_metric="loss")


# ----------------------------------------------------------------------------- real models


def test_worse_candidate_rejected_against_registered_champion(
    fitted_model_dir, tiny_model_dir, dataset_dir, tmp_path
):
    uri = _champion_registry(tmp_path, fitted_model_dir)
    config = EvaluateConfig(
        split="test", min_accuracy=0.0, max_prediction_share=1.0, min_gain_over_majority=-1.0
    )
    result = evaluate(config, tiny_model_dir, dataset_dir, registry_uri=uri, html_path=tmp_path / "r.html")
    assert result.champion.version == result.parent_champion == 1
    assert result.champion.report["macro_recall"] > result.report["macro_recall"]
    assert not result.passed
    assert any(r.startswith("champion/challenger:") and "version 1" in r for r in result.gate.reasons)
    page = (tmp_path / "r.html").read_text()
    assert "champion (v1)" in page and "gate FAILED" in page

    # the champion itself as candidate is not worse: it passes and may replace it
    same = evaluate(config, fitted_model_dir, dataset_dir, registry_uri=uri)
    assert same.passed, same.gate.reasons


def test_always_neutral_model_rejected(always_neutral_model_dir, dataset_dir, tmp_path):
    config = EvaluateConfig(split="test", min_accuracy=0.30)
    result = evaluate(config, always_neutral_model_dir, dataset_dir, registry_uri=str(tmp_path / "empty"))
    assert result.report["accuracy"] >= 0.30  # above the floor...
    assert not result.passed  # ...and still rejected
    assert any("predictions are 'neutral'" in r for r in result.gate.reasons)
    assert any("first model passes" in n for n in result.gate.notes)


def test_evaluation_result_round_trips_through_its_json(always_neutral_model_dir, dataset_dir, tmp_path):
    result = evaluate(EvaluateConfig(split="test"), always_neutral_model_dir, dataset_dir, registry_uri="")
    result.write(tmp_path / "report.json")
    again = EvaluationResult.read(tmp_path / "report.json")
    assert again == result
    assert again.registry_metrics()["macro_recall"] == result.report["macro_recall"]
    assert again.gate_record()["passed"] is False and again.parent_champion is None
    (tmp_path / "broken.json").write_text('{"accuracy": 0.5}')
    with pytest.raises(ConfigError, match="broken.json: not an evaluation report"):
        EvaluationResult.read(tmp_path / "broken.json")


# ----------------------------------------------------------------------------- report


def _result_for_report(dataset_dir, fitted_model_dir, tmp_path):
    uri = _champion_registry(tmp_path, fitted_model_dir)
    result = evaluate(EvaluateConfig(split="test"), fitted_model_dir, dataset_dir, registry_uri=uri)
    result.misclassified.insert(
        0,
        {
            "text": "<script>alert('x')</script> & <b>bold</b>",
            "label": "negative",
            "predicted": "positive",
            "confidence": 0.9,
        },
    )
    return result.to_dict()


def test_html_report_escapes_tweets_and_embeds_figures(dataset_dir, fitted_model_dir, tmp_path):
    page = render_html_report(_result_for_report(dataset_dir, fitted_model_dir, tmp_path))
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page
    assert page.count("data:image/png;base64,") == 3  # per-class bars + two confusion matrices
    assert "<th>difference</th>" in page


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="no chromium on this machine (apt-get install chromium)")
def test_html_report_renders_confusion_matrix_in_chromium(dataset_dir, fitted_model_dir, tmp_path):
    """Open the page in headless Chromium and check the confusion matrices were really drawn (blue pixels)."""
    import matplotlib.image

    page = tmp_path / "report.html"
    page.write_text(render_html_report(_result_for_report(dataset_dir, fitted_model_dir, tmp_path)))
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={shot}",
            "--window-size=1200,2000",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    pixels = matplotlib.image.imread(shot)[..., :3]
    strong_blue = (pixels[..., 2] > 0.5) & (pixels[..., 0] < 0.3) & (pixels[..., 1] < 0.5)
    assert strong_blue.sum() > 2000, "no confusion-matrix cells visible in the screenshot"
