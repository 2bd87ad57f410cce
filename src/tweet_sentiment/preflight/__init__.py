"""Step package of the ``check-settings`` task (``components/check_settings.py`` -> ``step``), and the
check that ``run-local``, ``submit``, ``schedule`` and ``compile --param`` run client-side.

No config class of its own: it checks every pipeline parameter with the config classes that declare
them (``tweet_sentiment.settings``), so it sits above the settings and the step packages (the
import-linter layers in pyproject.toml). Reads and writes no artifact; the task fails, naming each
refused parameter, its value and the allowed range, before the train loop starts.

``check.check_parameters`` / ``check.require_valid`` are what the CLI calls; ``step.check_on_cluster``
what the task calls. Everything else here is free to change.
"""

from tweet_sentiment.preflight.check import (
    FORCE_LEARNING_RATE,
    MAX_LEARNING_RATE,
    Problem,
    SettingsError,
    check_parameters,
    require_valid,
)

__all__ = [
    "FORCE_LEARNING_RATE",
    "MAX_LEARNING_RATE",
    "Problem",
    "SettingsError",
    "check_parameters",
    "require_valid",
]
