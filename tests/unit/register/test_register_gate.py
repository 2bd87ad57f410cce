"""register never moves ``champion`` to a model whose gate failed.

The verdicts come from evaluate itself, run against the same registry, so each report names the
champion it was compared with and the registry's compare-and-set would let the move through: the
failed gate is the only thing that keeps ``champion`` where it is. The control (the same model, the
same registry state, a gate that passes) shows that the move does happen then.
"""

from __future__ import annotations

import json

from tweet_sentiment.evaluate.step import run_evaluate
from tweet_sentiment.register.step import run_register
from tweet_sentiment.registry import CHAMPION, LocalRegistry

# The tiny random model scores about 1/3 on the test split and predicts one class far too often.
FAILING_GATE = dict(min_accuracy=0.9)
# Floors and degenerate-model guards off, regression up to the whole scale: any model passes.
PASSING_GATE = dict(
    min_accuracy=0.0, max_prediction_share=1.0, min_gain_over_majority=-1.0, max_regression=1.0
)


def _evaluate(model_dir, dataset_dir, registry, path, gate):
    passed = run_evaluate(
        str(model_dir),
        str(dataset_dir),
        split="test",
        registry_uri=str(registry),
        report_path=str(path),
        misclassified_samples=0,
        **gate,
    )
    return passed, json.loads(path.read_text())


def _register(model_dir, dataset_dir, registry, report_path, run_id):
    version, _ = run_register(
        str(model_dir),
        str(dataset_dir),
        str(registry),
        parameters={},
        run_id=run_id,
        evaluation_path=str(report_path),
    )
    return version


def test_a_failed_gate_on_an_empty_registry_leaves_it_without_a_champion(
    tiny_model_dir, dataset_dir, tmp_path
):
    registry = tmp_path / "registry"
    passed, report = _evaluate(tiny_model_dir, dataset_dir, registry, tmp_path / "report.json", FAILING_GATE)
    assert passed is False and report["gate_reasons"][0].startswith("accuracy ")
    assert report["champion"]["version"] is None  # nothing to compare with: the champion slot is free

    version = _register(tiny_model_dir, dataset_dir, registry, tmp_path / "report.json", "run-a")

    assert version == 1
    assert LocalRegistry(registry).get_alias(CHAMPION) is None
    assert LocalRegistry(registry).metadata(1)["gate"]["passed"] is False


def test_a_failed_gate_leaves_the_champion_where_it_was_and_a_passed_one_moves_it(
    tiny_model_dir, dataset_dir, tmp_path
):
    registry = tmp_path / "registry"
    passed, _ = _evaluate(tiny_model_dir, dataset_dir, registry, tmp_path / "first.json", PASSING_GATE)
    assert passed is True
    assert _register(tiny_model_dir, dataset_dir, registry, tmp_path / "first.json", "run-a") == 1
    assert LocalRegistry(registry).get_alias(CHAMPION) == 1

    passed, report = _evaluate(tiny_model_dir, dataset_dir, registry, tmp_path / "failed.json", FAILING_GATE)
    assert passed is False and report["champion"]["version"] == 1  # compared with the current champion
    assert _register(tiny_model_dir, dataset_dir, registry, tmp_path / "failed.json", "run-b") == 2
    assert LocalRegistry(registry).get_alias(CHAMPION) == 1
    assert LocalRegistry(registry).metadata(2)["gate"]["passed"] is False

    # The control: the same model against the same champion, with a gate it passes, is promoted.
    passed, report = _evaluate(tiny_model_dir, dataset_dir, registry, tmp_path / "passed.json", PASSING_GATE)
    assert passed is True and report["champion"]["version"] == 1
    assert _register(tiny_model_dir, dataset_dir, registry, tmp_path / "passed.json", "run-c") == 3
    assert LocalRegistry(registry).get_alias(CHAMPION) == 3
