"""run-local's console output (deploy/run_output.py) against what kfp.local really writes.

A two-task pipeline runs under kfp.local's SubprocessRunner with a RunOutput standing in for
stdout: one task draws a "train" progress bar and prints a training record, the next raises one of
the package's errors with a multi-line message. The console must get one line per task, the bar at
25 % steps and the record; the log file everything; the failure its task and message.
"""

import contextlib
import io
import warnings

import pytest
from kfp import dsl, local

from deploy.run_output import RunOutput, TaskFailure, parse_failure, warnings_to


@dsl.component(base_image="python:3.11")
def draws_progress() -> str:
    import sys

    print('{"min_steps": 64, "epochs": 3.0, "raised_to_epochs": 6, "steps": 66, "steps_per_epoch": 11}')
    for step in range(1, 9):
        sys.stdout.write(f"\rtrain: {step * 100 // 8:3d}%|####      | {step}/8 [00:01<00:01,  1.00step/s]")
    print('{"epoch": 1, "step": 8, "validation_accuracy": 0.5, "best": true}')
    return "ok"


@dsl.component(base_image="python:3.11")
def raises_bad_data(previous: str):
    from tweet_sentiment.core.errors import DataValidationError

    raise DataValidationError(
        f"{previous}: 3 bad row(s) of 10, over the budget of 0\n  a.jsonl:2: empty text"
    )


@dsl.pipeline(name="run-output-check")
def _pipeline():
    first = draws_progress()
    raises_bad_data(previous=first.output)


@pytest.fixture()
def local_runner(tmp_path):
    local.init(
        runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path), raise_on_error=True
    )


def test_a_run_prints_one_line_per_task_and_the_failure_is_parsed(local_runner):
    console, log = io.StringIO(), io.StringIO()
    output = RunOutput(console, log, live=False)
    with contextlib.redirect_stdout(output), warnings_to(log), pytest.raises(RuntimeError):
        _pipeline()
    lines = console.getvalue().splitlines()
    tasks = [line.split()[1:3] for line in lines if not line.startswith("    ")]
    assert ["draws-progress", "done"] in tasks and ["raises-bad-data", "failure"] in tasks, lines
    bars = [line for line in lines if line.strip().startswith("train:")]
    assert [bar.split("%")[0].split()[-1] for bar in bars] == ["25", "50", "75", "100"]
    assert "    epoch 1, step 8, validation accuracy 0.5 (best so far)" in lines
    assert "    min steps 64, epochs 3, raised to epochs 6, steps 66, steps per epoch 11" in lines
    assert len(lines) <= 10, lines  # no executor input, no warnings, no traceback on the console
    assert '"executorInput"' in log.getvalue() or "executor_input" in log.getvalue()
    assert "Traceback (most recent call last):" in log.getvalue()
    failure = output.failure
    assert failure.task == "raises-bad-data" and failure.ours
    assert failure.exception == "tweet_sentiment.core.errors.DataValidationError"
    assert failure.message == ["ok: 3 bad row(s) of 10, over the budget of 0", "  a.jsonl:2: empty text"]
    assert failure.cause() == "ok: 3 bad row(s) of 10, over the budget of 0"


def test_verbose_shows_everything_as_written(local_runner):
    console, log = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(RunOutput(console, log, verbose=True)), pytest.raises(RuntimeError):
        _pipeline()
    assert console.getvalue() == log.getvalue()


def test_a_foreign_exception_keeps_its_class_name():
    lines = [
        "Traceback (most recent call last):",
        '  File "x.py", line 1, in <module>',
        "    main()",
        "KeyError: 'label'",
    ]
    assert parse_failure("t", lines) == TaskFailure("t", "KeyError", ["'label'"])
    assert parse_failure("t", lines).cause() == "KeyError: 'label'"
    assert parse_failure("t", ["no traceback here"]) is None


def test_warnings_go_to_the_log():
    log = io.StringIO()
    with warnings_to(log), warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("settings have no effect in the current local runner", UserWarning, stacklevel=1)
    assert "have no effect" in log.getvalue()


def test_every_error_class_of_the_package_ends_as_its_message():
    """Any class under tweet_sentiment (training's config error included) is named by its message."""
    for exception, message in [
        (
            "tweet_sentiment.train.config.InvalidTrainConfig",
            "invalid training configuration: epochs must be > 0",
        ),
        (
            "tweet_sentiment.preflight.check.SettingsError",
            "1 setting refused: min_accuracy=1.5: must be <= 1",
        ),
        ("tweet_sentiment.registry.base.RegistryError", "version 7 does not exist in /r"),
    ]:
        lines = [
            "Traceback (most recent call last):",
            '  File "x.py", line 1, in <module>',
            f"{exception}: {message}",
        ]
        failure = parse_failure("train", lines)
        assert failure.ours and failure.cause() == message
