"""The check-settings task: every pipeline setting, and the registry as the tasks will see it."""

from __future__ import annotations

from typing import Any

from tweet_sentiment.preflight.check import require_valid


def check_on_cluster(parameters: dict[str, Any]) -> None:
    """Raise ``SettingsError`` (one problem per line) unless every setting is accepted here."""
    require_valid(parameters, check_environment=True)
    print(f"check-settings: all {len(parameters)} settings accepted", flush=True)
