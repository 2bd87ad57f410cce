"""TweetEval text normalisation, shared by training, evaluation and prediction.

TweetEval's released data replaces user mentions with ``@user`` and drops URLs; it also
carries JSON-style escapes (``\\u2019``) as literal text. We apply the same rules to any
input so that a model sees at inference exactly what it saw in training.
"""

from __future__ import annotations

import re
from typing import Any

# The version of ``normalize_tweet``'s rules. Bump it whenever the output changes for any input: a
# model records the version it was trained with (tweet_sentiment.model.inference_settings), and scoring it
# with other rules is reported.
NORMALIZER_VERSION = 1

# Texts longer than this (before normalisation) are refused by preprocess (bad rows), predict (an error
# row) and the model server (400): one limit, so that nothing is served that training would have refused.
MAX_TEXT_CHARS = 1000

_MENTION = re.compile(r"(?<![\w@])@\w{1,50}")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_LITERAL_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_SPACES = re.compile(r"\s+")


def _decode_escape(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    # Lone surrogates cannot be encoded as UTF-8 later; keep the literal text instead.
    return match.group(0) if 0xD800 <= ord(char) <= 0xDFFF else char


def normalize_tweet(text: str) -> str:
    """Return ``text`` normalised the TweetEval way.

    >>> normalize_tweet("@Delta my flight is late again https://t.co/x \\\\u2019")
    '@user my flight is late again \u2019'
    """
    text = _LITERAL_ESCAPE.sub(_decode_escape, text)
    text = _URL.sub(" ", text)
    text = _MENTION.sub("@user", text)
    return _SPACES.sub(" ", text).strip()


def check_text(value: Any, max_chars: int = MAX_TEXT_CHARS) -> tuple[str | None, str | None]:
    """``(text, None)`` for a usable tweet, ``(None, problem)`` otherwise (predict rows, served requests)."""
    if value is None:
        return None, "text is missing (null)"
    if not isinstance(value, str):
        return None, f"text is not a string ({type(value).__name__})"
    if len(value) > max_chars:
        return None, f"text is over-long ({len(value)} characters; the limit is {max_chars})"
    if not normalize_tweet(value):
        return None, "text is empty"
    return value, None
