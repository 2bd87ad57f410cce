"""Every setting is declared once (tweet_sentiment.settings) and every place that shows it agrees.

The places: the pipeline's inputs in both compiled targets, each component's inputs, run-local's
flags, the schedule files, and any literal default elsewhere in the code under a pipeline
parameter's name (function parameters, dataclass fields, argparse flags).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pipeline
from components._settings import setting_inputs
from deploy import cli, local_run
from deploy.package import load_package
from deploy.schedules import load_schedule
from tweet_sentiment.settings import setting

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ("kubeflow", "vertex")
PARAMETERS = pipeline.create_pipeline().component_spec.inputs
COMPONENTS = (
    pipeline.preprocess,
    pipeline.train,
    pipeline.evaluate,
    pipeline.register,
    pipeline.batch_predict,
    pipeline.plan_trials,
    pipeline.select_model,
    pipeline.check_settings,
)
# Literal defaults under a pipeline parameter's name that mean something else there, and why.
_SCORING_BATCH = "tweets per forward pass when scoring, not the training batch"
SCORING_MODULES = (
    "evaluate/config",
    "model/scoring",
    "model/inference",
    "register/onnx_export",
    "predict/config",
)
DIFFERENT_MEANING = {
    (
        "src/tweet_sentiment/train/config.py",
        "eval_split",
    ): "TrainConfig.eval_split is the validation_split parameter",
    ("src/tweet_sentiment/register/step.py", "eval_split"): "run_register: '' means no ONNX export",
    **{
        (f"src/tweet_sentiment/{module}.py", "max_length"): "0: the model's own (inference_settings.json); "
        "another value overrides it"
        for module in SCORING_MODULES
    },
    **{(f"src/tweet_sentiment/{module}.py", "batch_size"): _SCORING_BATCH for module in SCORING_MODULES},
}


def _spec(packages: dict, target: str) -> dict:
    return load_package(packages[target]).documents[0]


@pytest.mark.parametrize("target", TARGETS)
def test_pipeline_inputs_carry_the_declared_defaults_and_help(target, compiled_packages):
    inputs = _spec(compiled_packages, target)["root"]["inputDefinitions"]["parameters"]
    assert inputs.keys() == PARAMETERS.keys()
    for name, spec in inputs.items():
        declared = setting(name)
        if declared.required:
            assert "defaultValue" not in spec, name
        else:
            assert spec["defaultValue"] == declared.default, name
        assert spec["description"] == " ".join(declared.help.split()), name


@pytest.mark.parametrize("target", TARGETS)
def test_every_component_input_is_described_and_setting_defaults_match_the_pipeline(
    target, compiled_packages
):
    spec = _spec(compiled_packages, target)
    defaults_compared = 0
    for component_name, component in spec["components"].items():
        if not component_name.startswith("comp-") or "executorLabel" not in component:
            continue
        inputs = component.get("inputDefinitions", {})
        for kind in ("parameters", "artifacts"):
            for name, input_spec in inputs.get(kind, {}).items():
                assert input_spec.get("description"), f"{component_name}.{name} has no description"
                if name in PARAMETERS and "defaultValue" in input_spec:
                    assert input_spec["defaultValue"] == PARAMETERS[name].default, f"{component_name}.{name}"
                    defaults_compared += 1
    assert defaults_compared >= 30  # the comparison ran (37 component inputs carry a setting's default)


@pytest.mark.parametrize("target", TARGETS)
def test_every_task_binds_all_its_setting_inputs(target, compiled_packages):
    """The container's function has no defaults for settings: the pipeline must pass each one."""
    spec = _spec(compiled_packages, target)
    tasks = dict(spec["root"]["dag"]["tasks"])
    for component in spec["components"].values():
        tasks.update(component.get("dag", {}).get("tasks", {}))
    for component in COMPONENTS:
        task = tasks[component.name.replace("_", "-")]
        bound = task["inputs"].get("parameters", {})
        missing = [name for name in setting_inputs(component) if name not in bound]
        assert not missing, f"task {component.name} leaves {missing} to a default"


def test_run_local_flags_default_to_the_pipeline_defaults():
    args = cli.build_parser().parse_args(["run-local"])
    for name, spec in PARAMETERS.items():
        expected = local_run.LOCAL_DEFAULTS.get(name, spec.default)
        assert getattr(args, name) == expected, name
    # A flag reaches the pipeline argument of the same name.
    args = cli.build_parser().parse_args(["run-local", "--min-accuracy", "0.9", "--lr", "1e-3"])
    assert local_run.pipeline_arguments(args)["min_accuracy"] == 0.9
    assert local_run.pipeline_arguments(args)["learning_rate"] == 1e-3


@pytest.mark.parametrize("path", sorted((ROOT / "schedules").glob("*.yaml")), ids=lambda p: p.name)
def test_schedule_files_set_only_what_differs_from_the_defaults(path):
    for name, value in load_schedule(path).parameters.items():
        assert name in PARAMETERS, f"{path.name}: {name} is not a pipeline parameter"
        assert PARAMETERS[name].default is None or value != PARAMETERS[name].default, (
            f"{path.name} restates the default of {name}; leave it out so that the default has one home"
        )


def _literal_defaults(path: Path):
    """(name, value, line) of literal defaults in a file: parameters, annotated fields, argparse flags."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            arguments = node.args
            positional = arguments.posonlyargs + arguments.args
            pairs = list(
                zip(positional[len(positional) - len(arguments.defaults) :], arguments.defaults, strict=True)
            )
            pairs += [
                (a, d)
                for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
                if d is not None
            ]
            for argument, value in pairs:
                yield argument.arg, value, value.lineno
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            value = node.value
            if isinstance(value, ast.Call) and getattr(value.func, "id", "") == "field":
                value = next((k.value for k in value.keywords if k.arg == "default"), None)
            if value is not None:
                yield node.target.id, value, node.lineno
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
            flags = [
                a.value for a in node.args if isinstance(a, ast.Constant) and str(a.value).startswith("--")
            ]
            value = next((k.value for k in node.keywords if k.arg == "default"), None)
            if flags and value is not None:
                yield flags[0][2:].replace("-", "_"), value, node.lineno


def test_no_other_place_declares_a_different_default():
    files = [ROOT / "pipeline.py", *sorted((ROOT / "src").rglob("*.py"))]
    files += sorted((ROOT / "components").glob("*.py")) + sorted((ROOT / "deploy").glob("*.py"))
    disagreements = []
    for path in files:
        relative = str(path.relative_to(ROOT))
        for name, node, line in _literal_defaults(path):
            if name not in PARAMETERS or (relative, name) in DIFFERENT_MEANING:
                continue
            try:
                value = ast.literal_eval(node)
            except ValueError:
                continue  # an expression (e.g. default("epochs")): derived, not declared
            expected = PARAMETERS[name].default
            if expected is not None and value != expected:  # None: required, nothing to disagree with
                disagreements.append(f"{relative}:{line}: {name} = {value!r}, declared {expected!r}")
    assert not disagreements, "\n".join(disagreements)


def test_the_disagreement_check_finds_a_stray_default(tmp_path):
    stray = tmp_path / "stray.py"
    stray.write_text("def score(texts, max_length: int = 64):\n    return texts\n")
    found = [(n, ast.literal_eval(v)) for n, v, _ in _literal_defaults(stray)]
    assert ("max_length", 64) in found and PARAMETERS["max_length"].default != 64


def test_an_unknown_setting_names_where_to_declare_it():
    with pytest.raises(KeyError, match="PipelineSettings"):
        setting("no_such_setting")
