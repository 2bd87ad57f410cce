"""TweetEval text normalisation as one table of rules, run by one engine wherever a text is normalised.

TweetEval's released data replaces user mentions with ``@user`` and drops URLs; it also carries
JSON-style escapes (``\\u2019``) as literal text. :data:`RULES` says how, as ``(regex, replacement)``
pairs applied in order. The same table builds

- :func:`normalize_tweet`, which preprocess and predict call, and
- the normalizer that training writes into the saved model's ``tokenizer.json``
  (``model/tokenizer.py``), ahead of the model's own normalizer (lower-casing, ...), so that
  ``AutoTokenizer`` / ``transformers.pipeline()`` on a raw tweet give the ids ``predict`` gives.

Both run the rules through ``tokenizers``' ``Replace`` normalizers (Oniguruma regexes), not
through Python's ``re``: the two engines disagree on ``\\w`` and ``\\s`` (combining marks, ``\\x1c``,
superscript digits), so one table written for both would still give two answers.

What a ``Replace`` cannot do, and how the rules are shaped around it:

- its replacement is a constant string (no callback, no group reference), so a literal
  ``\\uXXXX`` escape can only be decoded by one rule per code point. The rules decode a fixed
  table, :data:`DECODED_ESCAPES` (ASCII punctuation, Latin-1, general punctuation, currency
  signs: TweetEval itself carries only ``\\u002c`` and ``\\u2019``); other escapes stay literal,
  as surrogate halves (``\\ud83d``) always did.
- the table leaves out the backslash, ``u`` and the hex digits, whose decoding could complete a new
  escape (``\\u005cu2019``): normalising twice then gives what normalising once gave (checked in
  the tests), so text preprocess has already normalised can go through a model's tokenizer again.
- HTML entities (``&amp;``) are not decoded, as before: TweetEval keeps them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

# The version of the rules. Bump it whenever the output changes for any input: a model records the
# version it was trained with (tweet_sentiment.model.inference_settings). Version 2: the rules run in
# ``tokenizers`` (1 was Python's ``re``), a fixed table of escapes, mentions of any length.
NORMALIZER_VERSION = 2

# Texts longer than this (before normalisation) are refused by preprocess (bad rows), predict (an error
# row) and the model server (400): one limit, so that nothing is served that training would have refused.
MAX_TEXT_CHARS = 1000


def _decoded_escapes() -> tuple[int, ...]:
    ascii_symbols = [c for c in range(0x20, 0x7F) if not chr(c).isalnum() and chr(c) != "\\"]
    latin1 = range(0xA0, 0x100)  # no-break space, inverted marks, accented letters
    punctuation = range(0x2010, 0x205F)  # dashes, quotes, bullets, ellipsis, primes
    currency = range(0x20A0, 0x20C1)  # euro sign, ...
    return tuple([*ascii_symbols, *latin1, *punctuation, *currency])


# Code points whose literal ``\uXXXX`` escape is decoded. Never the backslash, ``u`` or a hex digit.
DECODED_ESCAPES: tuple[int, ...] = _decoded_escapes()


def _escape_pattern(code_point: int) -> str:
    """``\\\\u00[eE]9`` for U+00E9: the escape with its hex letters in either case."""
    digits = f"{code_point:04x}"
    return r"\\u" + "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in digits)


# (regex, replacement), applied in this order. Escapes first, so a decoded ``@`` or ``/`` meets the
# mention and URL rules; spaces last, so what the other rules removed leaves no double space.
RULES: tuple[tuple[str, str], ...] = (
    *((_escape_pattern(c), chr(c)) for c in DECODED_ESCAPES),
    (r"(?i:https?://|www\.)\S+", " "),  # URLs, with or without a scheme
    (r"(?<![\w@])@\w+", "@user"),  # mentions (not e-mail addresses: bob@example.org)
    (r"\s+", " "),
    (r"\A | \z", ""),  # strip
)


@lru_cache(maxsize=1)
def tweet_normalizer():
    """The rules as a ``tokenizers`` normalizer (a ``Sequence`` of ``Replace``)."""
    from tokenizers import Regex, normalizers

    return normalizers.Sequence([normalizers.Replace(Regex(p), r) for p, r in RULES])


class UnencodableText(ValueError):
    """The text holds a lone UTF-16 surrogate (a JSON ``\\ud83d`` without its pair): not UTF-8 text."""


def normalize_tweet(text: str) -> str:
    """Return ``text`` normalised the TweetEval way.

    >>> normalize_tweet("@Delta my flight is late again https://t.co/x \\\\u2019")
    '@user my flight is late again \u2019'
    """
    try:
        return tweet_normalizer().normalize_str(text)
    except UnicodeEncodeError:
        raise UnencodableText("text holds a lone UTF-16 surrogate and is not valid Unicode text") from None


def check_text(value: Any, max_chars: int = MAX_TEXT_CHARS) -> tuple[str | None, str | None]:
    """``(text, None)`` for a usable tweet, ``(None, problem)`` otherwise (predict rows, served requests)."""
    if value is None:
        return None, "text is missing (null)"
    if not isinstance(value, str):
        return None, f"text is not a string ({type(value).__name__})"
    if len(value) > max_chars:
        return None, f"text is over-long ({len(value)} characters; the limit is {max_chars})"
    try:
        if not normalize_tweet(value):
            return None, "text is empty"
    except UnencodableText as exc:
        return None, str(exc)
    return value, None
