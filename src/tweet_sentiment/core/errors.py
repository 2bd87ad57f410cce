"""Errors that users see. Each one says what to fix, in one message, without a library traceback."""

from __future__ import annotations


class TweetSentimentError(Exception):
    """Base class for every error this project raises on purpose."""


class DataValidationError(TweetSentimentError):
    """The input data is unusable: a file-level problem, or more bad rows than the budget allows."""


class DataSourceError(TweetSentimentError):
    """The data or model source cannot be read (missing path, unreachable hub, bad gs:// URI)."""


class ModelSourceError(TweetSentimentError):
    """A model cannot be loaded from the given hub id, directory or gs:// prefix."""


class ConfigError(TweetSentimentError, ValueError):
    """A configuration value is out of range or inconsistent."""


class MirrorError(TweetSentimentError):
    """A registered version could not be copied to MLflow or Vertex AI; the registry is unaffected."""
