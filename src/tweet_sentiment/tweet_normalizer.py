"""TweetEval text normalisation as one table of rules, run by one engine wherever a text is normalised.

TweetEval's released data replaces user mentions with ``@user`` and drops URLs; it also carries
JSON-style escapes (``\\u2019``) as literal text. :data:`RULES` says how, as ``(regex, replacement)``
pairs applied in order. The same table builds

- :func:`normalize_tweet`, which preprocess and predict call, and
- the normalizer that training writes into the saved model's ``tokenizer.json``
  (:func:`with_tweet_normalizer`), ahead of the model's own normalizer (lower-casing, ...), so that
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

import json
from functools import lru_cache
from pathlib import Path

# The version of the rules. Bump it whenever the output changes for any input: a model records the
# version it was trained with (tweet_sentiment.inference_settings). Version 2: the rules run in
# ``tokenizers`` (1 was Python's ``re``), a fixed table of escapes, mentions of any length.
NORMALIZER_VERSION = 2

_HEX = "0123456789abcdefABCDEF"


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


def _rules_json() -> list[dict]:
    return json.loads(tweet_normalizer().__getstate__())["normalizers"]


def _without_rules(normalizer: dict | None) -> list[dict]:
    """A tokenizer.json normalizer as a list of steps, less a copy of the rules at its head."""
    steps = [] if normalizer is None else [normalizer]
    if normalizer is not None and normalizer.get("type") == "Sequence":
        steps = list(normalizer["normalizers"])
    ours = _rules_json()
    return steps[len(ours) :] if steps[: len(ours)] == ours else steps


def has_tweet_normalizer(tokenizer) -> bool:
    """Whether a (fast) tokenizer applies :data:`RULES` ahead of its own normalizer."""
    normalizer = json.loads(tokenizer.backend_tokenizer.to_str()).get("normalizer")
    steps = normalizer.get("normalizers", []) if normalizer and normalizer["type"] == "Sequence" else []
    return steps[: len(RULES)] == _rules_json()


def with_tweet_normalizer(tokenizer, *, max_length: int):
    """A copy of ``tokenizer`` (any fast tokenizer) whose normalizer applies :data:`RULES` first.

    ``max_length`` becomes its ``model_max_length``, so ``pipeline(..., truncation=True)`` cuts a text
    where training and ``predict`` do.
    """
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    steps = _rules_json() + _without_rules(spec.get("normalizer"))
    spec["normalizer"] = {"type": "Sequence", "normalizers": steps}
    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(json.dumps(spec)),
        model_input_names=list(tokenizer.model_input_names),
        model_max_length=max_length,
        padding_side=tokenizer.padding_side,
        truncation_side=tokenizer.truncation_side,
        **tokenizer.special_tokens_map,
    )


# transformers 5 saves the class as ``TokenizersBackend``, a name transformers 4 does not know; both
# load ``PreTrainedTokenizerFast`` from tokenizer.json as it is (normalizer included).
PORTABLE_TOKENIZER_CLASS = "PreTrainedTokenizerFast"


def save_tokenizer(tokenizer, output: str | Path, *, max_length: int) -> None:
    """Save ``tokenizer`` into ``output`` with the rules in its tokenizer.json (see the module doc)."""
    with_tweet_normalizer(tokenizer, max_length=max_length).save_pretrained(output)
    config_path = Path(output) / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["tokenizer_class"] = PORTABLE_TOKENIZER_CLASS
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
