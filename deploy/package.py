"""Reading a compiled pipeline package: its parameters, and checking the values given for them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class DeployError(Exception):
    """A problem the user can fix (bad flag, bad schedule file, unreachable service); printed as one line."""


_PYTHON_TYPES = {
    "STRING": (str,),
    "NUMBER_INTEGER": (int,),
    "NUMBER_DOUBLE": (int, float),
    "BOOLEAN": (bool,),
}


@dataclass(frozen=True)
class PipelinePackage:
    path: Path
    name: str
    parameters: dict[str, dict[str, Any]]  # name -> {"parameterType": ..., "defaultValue"?, "isOptional"?}
    documents: list[dict[str, Any]]

    @property
    def required_parameters(self) -> list[str]:
        return sorted(n for n, spec in self.parameters.items() if not spec.get("isOptional"))

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()[:12]

    def check_arguments(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Unknown names, missing required parameters and wrong types fail here, before any request."""
        unknown = sorted(set(arguments) - set(self.parameters))
        if unknown:
            raise DeployError(
                f"unknown pipeline parameter(s) {', '.join(unknown)}; "
                f"{self.name} takes {', '.join(sorted(self.parameters))}"
            )
        missing = [n for n in self.required_parameters if n not in arguments]
        if missing:
            raise DeployError(
                f"missing required pipeline parameter(s): {', '.join(missing)} (pass --param NAME=VALUE)"
            )
        for name, value in arguments.items():
            kind = self.parameters[name]["parameterType"]
            accepted = _PYTHON_TYPES.get(kind)
            wrong_bool = isinstance(value, bool) and kind != "BOOLEAN"
            if accepted and (wrong_bool or not isinstance(value, accepted)):
                raise DeployError(f"pipeline parameter {name}={value!r} must be {kind}")
        return dict(arguments)


def _all_tasks(spec: dict[str, Any]):
    """Every task of the spec: the root DAG's and those inside conditions and exit handlers."""
    yield from spec["root"].get("dag", {}).get("tasks", {}).values()
    for component in spec.get("components", {}).values():
        yield from component.get("dag", {}).get("tasks", {}).values()


def without_caching(package: PipelinePackage, directory: str | Path) -> PipelinePackage:
    """A copy of ``package`` in which no task may be served from the cache (``--no-cache``).

    Written as a package of its own, so the uploaded KFP version says what runs: ``kfp.Client``
    ignores ``enable_caching`` for a run of an uploaded version, and its own override reaches only
    the root DAG's tasks, not those inside ``dsl.If`` / ``dsl.ExitHandler``.
    """
    documents = [dict(d) for d in package.documents]
    spec = yaml.safe_load(yaml.safe_dump(documents[0]))
    for task in _all_tasks(spec):
        task["cachingOptions"] = {}  # what the compiler writes for enable_caching=False
    documents[0] = spec
    path = Path(directory) / f"{package.path.stem}.no-cache.yaml"
    path.write_text(yaml.safe_dump_all(documents, sort_keys=True), encoding="utf-8")
    return load_package(path)


def load_package(path: str | Path) -> PipelinePackage:
    path = Path(path)
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    except (OSError, yaml.YAMLError) as exc:
        raise DeployError(f"cannot read pipeline package {path}: {exc}") from exc
    if not documents or "root" not in documents[0]:
        raise DeployError(f"{path} is not a compiled KFP pipeline (no 'root' in its first document)")
    spec = documents[0]
    return PipelinePackage(
        path=path,
        name=spec["pipelineInfo"]["name"],
        parameters=spec["root"].get("inputDefinitions", {}).get("parameters", {}),
        documents=documents,
    )


def parse_param_flags(flags: list[str] | None, package: PipelinePackage) -> dict[str, Any]:
    """``NAME=VALUE`` flags, each value converted to the parameter's type in the compiled spec."""
    values: dict[str, Any] = {}
    for flag in flags or []:
        name, sep, raw = flag.partition("=")
        if not sep or not name:
            raise DeployError(f"--param {flag!r} must be NAME=VALUE")
        spec = package.parameters.get(name)
        if spec is None:
            raise DeployError(
                f"unknown pipeline parameter {name!r}; "
                f"{package.name} takes {', '.join(sorted(package.parameters))}"
            )
        values[name] = _convert(name, raw, spec["parameterType"])
    return values


def _convert(name: str, raw: str, kind: str) -> Any:
    try:
        if kind == "NUMBER_INTEGER":
            return int(raw)
        if kind == "NUMBER_DOUBLE":
            return float(raw)
        if kind == "BOOLEAN":
            if raw.lower() not in ("true", "false"):
                raise ValueError(raw)
            return raw.lower() == "true"
    except ValueError:
        raise DeployError(f"--param {name}={raw!r} is not a valid {kind}") from None
    return raw
