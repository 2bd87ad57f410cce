"""The CLI's exit codes, and every error a user can fix as one line instead of a traceback.

=====  ==============================================================================================
code   meaning
=====  ==============================================================================================
0      done: the run registered a version (or the retrain policy skipped it); any other command worked
1      an error: a task failed (bad data, an unreadable source, ...), a service refused or was
       unreachable, Google credentials are missing, a registry path is not a registry
2      usage: a flag, a pipeline setting or a schedule file is refused before anything runs
3      the run finished but the gate refused the model: nothing was registered
=====  ==============================================================================================
"""

from __future__ import annotations

OK = 0
ERROR = 1
USAGE = 2
GATE_REFUSED = 3

CREDENTIALS_HINT = (
    "no Google credentials: run `gcloud auth application-default login`, or set "
    "GOOGLE_APPLICATION_CREDENTIALS to a service-account key file"
)


def _named(exc: BaseException, module: str, *names: str) -> bool:
    """Whether ``exc`` is (a subclass of) one of ``names`` from ``module``, without importing it."""
    return any(c.__module__.startswith(module) and c.__name__ in names for c in type(exc).__mro__)


def one_line(exc: BaseException) -> tuple[int, str] | None:
    """(exit code, message) for an error the user can act on; None for a bug (let it raise)."""
    from deploy.package import DeployError
    from tweet_sentiment.core.errors import ConfigError, TweetSentimentError

    if _named(exc, "tweet_sentiment.preflight", "SettingsError"):
        return USAGE, "\n".join(f"error: {line}" for line in exc.lines())
    if isinstance(exc, (DeployError, ConfigError)):  # a flag, setting or file refused before any work
        return USAGE, f"error: {exc}"
    if isinstance(exc, TweetSentimentError):
        return ERROR, f"error: {exc}"
    if _named(exc, "google.auth", "DefaultCredentialsError"):
        return ERROR, f"error: {CREDENTIALS_HINT} ({_first_line(exc)})"
    if _named(exc, "google.auth", "RefreshError", "TransportError"):
        return ERROR, f"error: Google credentials could not be used: {_first_line(exc)}"
    if _named(exc, "google.api_core", "GoogleAPICallError"):
        return ERROR, f"error: Google Cloud refused the request: {_first_line(exc)}"
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
