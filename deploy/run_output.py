"""What ``run-local`` prints: one line per task, training's progress, and the cause of a failure.

kfp.local writes everything to ``sys.stdout``: its own log lines, each task's executor-input JSON,
the task's streamed output (indented by four spaces) and, for a failed task, its traceback. A
:class:`RunOutput` stands in for ``sys.stdout`` during the run (``contextlib.redirect_stdout``):
every line goes to the run's log file; the console gets

* one line per task when it ends: its name, status and seconds (a retried attempt, a skipped task
  and the reason a condition skipped it each get a line too);
* training's progress bar (redrawn in place on a terminal; elsewhere only at 25 % steps) and its
  per-evaluation records;
* with ``verbose``, every line as kfp.local wrote it.

The last traceback of a failed task is parsed into :attr:`RunOutput.failure`: the task and the
exception's message (without the module path for the package's own errors), so ``run-local`` ends
with one line naming both. :func:`warnings_to` sends Python warnings (kfp.local's "has no effect in
the local runner") to the log file too.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TextIO

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_EXECUTING = re.compile(r"- INFO - Executing task '([^']+)'")
_FINISHED = re.compile(r"- (?:INFO|ERROR) - Task '([^']+)' finished with status (\w+)")
_RETRYING = re.compile(r"- INFO - Task (\S+) failed \(attempt (\d+)/(\d+)\)")
_SKIPPED = re.compile(r"- INFO - Skipping (conditional )?task (\S+?):? (.*)$")
_PROGRESS = re.compile(r"^\s*(\w[\w -]*): +(\d+)%\|.*\| *(\d+)/(\d+)")
_TASK_OUTPUT_INDENT = "    "  # kfp.local indents a task's streamed output by four spaces
_OUR_ERRORS = "tweet_sentiment."
PROGRESS_BARS = {"train"}  # tqdm descriptions shown: training's bar (training.py), not model loading's
PROGRESS_STEP = 25  # percent between progress lines when the console is not a terminal


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


@dataclass
class TaskFailure:
    """The task whose last attempt raised, and the exception's message (one or more lines)."""

    task: str
    exception: str  # the exception's class, e.g. "DataValidationError" or "KeyError"
    message: list[str]

    @property
    def ours(self) -> bool:
        return self.exception.startswith(_OUR_ERRORS)

    def cause(self) -> str:
        """One line: the package's errors by their message alone, others with their class name."""
        first = self.message[0] if self.message else ""
        if self.ours:
            return first or self.exception.rsplit(".", 1)[-1]
        return f"{self.exception}: {first}" if first else self.exception


@dataclass
class _Task:
    name: str
    started: float
    clock: str  # when it started, HH:MM:SS
    lines: list[str] = field(default_factory=list)  # the task's own output (indent removed)
    progress_shown: int = 0  # percent of the last progress line printed (not on a terminal)


class RunOutput(io.TextIOBase):
    """Stands in for ``sys.stdout`` while kfp.local runs (see the module docstring)."""

    def __init__(self, console: TextIO, log: TextIO, *, verbose: bool = False, live: bool | None = None):
        self.console = console
        self.log = log
        self.verbose = verbose
        self.live = console.isatty() if live is None else live
        self.failure: TaskFailure | None = None
        self.durations: dict[str, float] = {}
        self.attempts: dict[str, int] = {}
        self._task: _Task | None = None
        self._partial = ""
        self._redrawing = False

    # -- io.TextIOBase
    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.log.write(text)
        if self.verbose:
            self.console.write(text)
        # A progress bar redraws with "\r": each redraw is a line of its own here.
        lines = (self._partial + text.replace("\r\n", "\n").replace("\r", "\n")).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._line(strip_ansi(line))
        return len(text)

    def flush(self) -> None:
        self.log.flush()
        self.console.flush()

    # -- parsing
    def _line(self, line: str) -> None:
        if match := _EXECUTING.search(line):
            self._task = _Task(match.group(1), time.monotonic(), time.strftime("%H:%M:%S"))
        elif match := _FINISHED.search(line):
            self._finished(match.group(1), match.group(2))
        elif match := _RETRYING.search(line):
            self._say(
                f"  {match.group(1):<15} failed (attempt {match.group(2)} of {match.group(3)}), retrying"
            )
        elif match := _SKIPPED.search(line):
            reason = "its condition is false" if match.group(1) else match.group(3).rstrip(".")
            self._say(f"  {match.group(2):<15} skipped: {reason}")
        elif self._task is not None and line.startswith(_TASK_OUTPUT_INDENT):
            self._task_line(line[len(_TASK_OUTPUT_INDENT) :])

    def _task_line(self, line: str) -> None:
        task = self._task
        task.lines.append(line)
        # A record may follow the bar's last redraw on the same line.
        record = min((i for i in map(line.find, _RECORD_STARTS) if i >= 0), default=-1)
        if record >= 0:
            line, record_text = line[:record], line[record:]
        if (match := _PROGRESS.match(line)) and match.group(1) in PROGRESS_BARS:
            self._progress(task, line.strip(), int(match.group(2)))
        if record >= 0:
            self._say(f"    {_describe_record(record_text)}")

    def _progress(self, task: _Task, bar: str, percent: int) -> None:
        if self.verbose:
            return
        if self.live:
            self.console.write(f"\r\x1b[K    {bar}")
            self.console.flush()
            self._redrawing = True
        elif percent // PROGRESS_STEP > task.progress_shown // PROGRESS_STEP:
            task.progress_shown = percent
            self._say(f"    {bar}")

    def _finished(self, name: str, status: str) -> None:
        task = self._task if self._task is not None and self._task.name == name else None
        seconds = time.monotonic() - task.started if task else 0.0
        self.durations[name] = self.durations.get(name, 0.0) + seconds
        if status != "SUCCESS" and task is not None:
            failure = parse_failure(name, task.lines)
            if failure is not None:
                self.failure = failure
        clock = task.clock if task else time.strftime("%H:%M:%S")
        self.attempts[name] = self.attempts.get(name, 0) + 1
        verdict = "done" if status == "SUCCESS" else status.lower()
        # kfp.local retries a failed task at once, per the task's retry policy: number the attempts.
        attempt = f" (attempt {self.attempts[name]})" if status != "SUCCESS" else ""
        self._say(f"  {clock}  {name:<15} {verdict} in {seconds:.1f} s{attempt}")
        self._task = None

    def _say(self, line: str) -> None:
        if self.verbose:
            return
        if self._redrawing:
            self.console.write("\r\x1b[K")
            self._redrawing = False
        self.console.write(line + "\n")
        self.console.flush()


# The train step's records that the console shows: each evaluation, and min_steps raising the epochs.
_RECORD_STARTS = ('{"epoch"', '{"min_steps"')


def _describe_record(line: str) -> str:
    """A training record (``{"epoch": 1, "step": 11, ...}``, ``{"min_steps": 64, ...}``) as a short line."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return line
    parts = [
        f"{key.replace('_', ' ')} {f'{value:.4g}' if isinstance(value, float) else value}"
        for key, value in record.items()
        if not isinstance(value, bool)
    ]
    return ", ".join(parts) + (" (best so far)" if record.get("best") else "")


def parse_failure(task: str, lines: list[str]) -> TaskFailure | None:
    """The exception of the last traceback in a task's output: its class and message lines."""
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last):")]
    if not starts:
        return None
    body = lines[starts[-1] + 1 :]
    # Frames are indented; the exception line is the first that is not, the message runs to the end.
    first = next((i for i, line in enumerate(body) if line and not line[0].isspace()), None)
    if first is None:
        return None
    name, _, message = body[first].partition(": ")
    rest = [line for line in body[first + 1 :] if line.strip()]
    return TaskFailure(
        task=task, exception=name.strip(), message=[message.strip(), *[r.rstrip() for r in rest]]
    )


@contextlib.contextmanager
def warnings_to(log: TextIO) -> Iterator[None]:
    """Python warnings raised meanwhile are written to ``log`` instead of stderr."""
    original = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        log.write(warnings.formatwarning(message, category, filename, lineno, line))

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = original
