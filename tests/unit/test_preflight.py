"""The preflight check: every refused setting named with its value and what is allowed, from the
config classes' own checks (tweet_sentiment.preflight)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tweet_sentiment.preflight import MAX_LEARNING_RATE, SettingsError, check_parameters, require_valid


def _problems(tmp_path, check_environment=False, **parameters) -> list[str]:
    arguments = {"registry_uri": str(tmp_path / "registry"), **parameters}
    return [str(p) for p in check_parameters(arguments, check_environment=check_environment)]


# One bad value per class of mistake, and the words its one-line problem must hold.
RANGE_CASES = {
    "min_accuracy": (1.5, "min_accuracy=1.5: must be between 0 and 1"),
    "min_macro_recall": (-0.1, "min_macro_recall=-0.1: must be between 0 and 1"),
    "max_regression": (2.0, "max_regression=2.0: must be between 0 and 1"),
    "epochs": (0.0, "epochs=0.0: must be > 0"),
    "learning_rate": (0.0, "learning_rate=0.0: must be > 0"),
    "batch_size": (0, "batch_size=0: must be >= 1"),
    "max_length": (4, "max_length=4: must be between 8 and 4096"),
    "class_weight_power": (2.0, "class_weight_power=2.0: must be in [0, 1]"),
    "precision": ("fp8", "precision='fp8': must be one of auto, fp32, bf16, fp16"),
    "eval_every_steps": (-1, "eval_every_steps=-1: must be >= 0"),
    "checkpoint_every_steps": (0, "checkpoint_every_steps=0: must be >= 1"),
    "max_bad_fraction": (1.5, "max_bad_fraction=1.5: must be between 0 and 1"),
    "dev_fraction": (1.0, "dev_fraction=1.0: must be in [0, 1)"),
    "max_text_chars": (0, "max_text_chars=0: must be >= 1"),
}


@pytest.mark.parametrize("name", sorted(RANGE_CASES))
def test_a_value_out_of_its_declared_range_is_named_with_the_range(tmp_path, name):
    value, expected = RANGE_CASES[name]
    (problem,) = _problems(tmp_path, **{name: value})
    assert problem.startswith(expected), problem


def test_the_defaults_are_accepted(tmp_path):
    assert _problems(tmp_path, check_environment=True) == []


def test_every_problem_is_reported_at_once(tmp_path):
    problems = _problems(tmp_path, epochs=0.0, min_accuracy=1.5, dev_fraction=1.0)
    assert sorted(p.split("=")[0] for p in problems) == ["dev_fraction", "epochs", "min_accuracy"]
    with pytest.raises(SettingsError) as refused:
        require_valid({"registry_uri": str(tmp_path), "epochs": 0.0, "min_accuracy": 1.5})
    assert len(refused.value.lines()) == 2 and str(refused.value).startswith("2 settings refused: ")


def test_wrong_types_and_unknown_names(tmp_path):
    assert _problems(tmp_path, epochs="three") == ["epochs='three': must be a (finite) number"]
    assert _problems(tmp_path, batch_size=2.5) == ["batch_size=2.5: must be a whole number"]
    assert _problems(tmp_path, epochs=float("nan"))[0].startswith("epochs=nan: must be a (finite) number")
    assert _problems(tmp_path, epoch=3) == ["epoch=3: no such pipeline setting"]


def test_eval_split_must_be_a_split_preprocess_knows(tmp_path):
    (problem,) = _problems(tmp_path, eval_split="tset")
    assert problem.startswith(
        "eval_split='tset': unknown split(s) ['tset']; splits are train, validation, test"
    )


def test_sweep_trials_are_planned_and_checked_as_whole_train_configs(tmp_path):
    assert "not JSON" in _problems(tmp_path, sweep="[{")[0]
    (unknown,) = _problems(tmp_path, sweep='[{"lr": 1e-5}]')
    assert unknown.startswith("sweep='[{\"lr\": 1e-5}]': trial 0: unknown setting(s) lr")
    (trial,) = _problems(tmp_path, sweep='[{"learning_rate": 5e-5}, {"class_weight_power": 3}]')
    assert "trial 1: class_weight_power must be in [0, 1]" in trial
    assert _problems(tmp_path, sweep='[{"learning_rate": 5e-5}, {"seed": 7}]') == []


def test_a_learning_rate_above_the_ceiling_is_refused(tmp_path):
    assert MAX_LEARNING_RATE == 1e-3
    (problem,) = _problems(tmp_path, learning_rate=5.0)
    assert problem.startswith("learning_rate=5.0: above the ceiling of 0.001")
    (in_sweep,) = _problems(tmp_path, sweep='[{"learning_rate": 5}]')
    assert "trial 0: learning_rate 5 above the ceiling of 0.001" in in_sweep
    assert _problems(tmp_path, learning_rate=1e-3) == []


def test_only_vertex_needs_a_gs_registry(tmp_path):
    (vertex,) = _problems(tmp_path, vertex_model="tweet-sentiment")
    assert vertex.startswith("vertex_model='tweet-sentiment': needs a gs:// registry_uri")
    # An MLflow server takes a local registry: the mirror logs the files as the run's artifacts.
    assert _problems(tmp_path, mlflow_tracking_uri="http://mlflow:5000") == []
    assert _problems(tmp_path, mlflow_tracking_uri=f"sqlite:///{tmp_path}/m.db") == []
    remote = {"registry_uri": "gs://bucket/registry", "vertex_model": "m", "mlflow_tracking_uri": "https://m"}
    assert check_parameters(remote) == []


def test_a_registry_that_cannot_be_written_is_refused_where_the_tasks_run(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    (problem,) = _problems(tmp_path, check_environment=True, registry_uri=str(a_file / "registry"))
    assert problem == f"registry_uri='{a_file / 'registry'}': {a_file} is a file; the registry is a directory"
    # Client-side for a cluster (submit), the path is the cluster's: not checked here.
    assert _problems(tmp_path, registry_uri=str(a_file / "registry")) == []
    assert "gs://BUCKET" in _problems(tmp_path, check_environment=True, registry_uri="gs://")[0]


def test_importing_it_imports_neither_torch_nor_kfp():
    code = "import sys, tweet_sentiment.preflight; print('torch' in sys.modules, 'kfp' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]
