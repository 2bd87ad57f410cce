"""Give a component's setting inputs their defaults and descriptions from ``tweet_sentiment.settings``.

A component's keyword-only parameters (after ``*``) are settings, named as in the settings module
and written without a default: ``from_settings`` fills in the declared default (``__kwdefaults__``,
which KFP reads into the component spec) and adds an ``Args:`` section to the docstring (KFP turns
it into input descriptions). The inputs before ``*`` (artifacts, run ids, inputs the pipeline binds
explicitly) are described by the keyword arguments of ``from_settings``.

The function source that KFP ships to the container has no defaults for the settings, so the
pipeline passes every one of them (``pipeline.py`` binds them by name; ``tests/test_settings.py``
checks that each task binds all its inputs). This runs only where the pipeline is authored;
``tweet_sentiment.settings`` imports neither kfp nor torch (the config modules need numpy).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from tweet_sentiment.settings import setting


def from_settings(**described: str) -> Callable:
    """Decorator (below ``@dsl.component``); ``described`` documents the inputs that are not settings."""

    def decorate(func: Callable) -> Callable:
        parameters = inspect.signature(func).parameters
        defaults, docs = {}, {}
        for name, parameter in parameters.items():
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY:
                declared = setting(name)
                if parameter.default is not inspect.Parameter.empty:
                    raise TypeError(
                        f"{func.__name__}({name}=...): a setting's default is declared in "
                        f"{declared.declared_in}, not in the component"
                    )
                if not declared.required:
                    defaults[name] = declared.default
                docs[name] = declared.help
            elif name in described:
                docs[name] = described[name]
            else:
                raise TypeError(f"{func.__name__}: describe input {name!r} in from_settings(...)")
        unknown = set(described) - {n for n, p in parameters.items() if p.kind is not p.KEYWORD_ONLY}
        if unknown:
            raise TypeError(f"{func.__name__} has no input(s) before '*' named {', '.join(sorted(unknown))}")
        func.__kwdefaults__ = {**(func.__kwdefaults__ or {}), **defaults}
        summary = inspect.cleandoc(func.__doc__ or func.__name__)
        args = "\n".join(f"    {name}: {' '.join(text.split())}" for name, text in docs.items())
        func.__doc__ = f"{summary}\n\nArgs:\n{args}\n"
        return func

    return decorate


def setting_inputs(component) -> list[str]:
    """The inputs of a component (or its python function) that are settings, in signature order."""
    func = getattr(component, "python_func", component)
    return [
        name
        for name, parameter in inspect.signature(func).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    ]
