"""The TweetEval rules (``core/text.py``) inside a saved tokenizer: raw text in, ids of normalised text out.

Training saves its tokenizer with :func:`save_tokenizer`: a copy whose ``tokenizer.json`` normalizer
is ``Sequence([<the rules as Replace steps>, <the model's own normalizer>])``, so ``AutoTokenizer``,
``transformers.pipeline()``, MLflow's transformers flavor or a Hugging Face serving container apply
the rules without this package. The rules are idempotent, so text that preprocess already
normalised gets the same ids again.
"""

from __future__ import annotations

import json
from pathlib import Path

from tweet_sentiment.core.errors import ModelSourceError
from tweet_sentiment.core.text import NORMALIZER_VERSION, RULES, tweet_normalizer
from tweet_sentiment.model.inference_settings import SETTINGS_FILE, InferenceSettings


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


def tokenizer_normalizes(settings: InferenceSettings, tokenizer, model_dir) -> bool:
    """Whether raw text may go to ``tokenizer`` (the model's settings say its tokenizer.json applies the
    rules); a clear error when they say so and the tokenizer.json does not hold this version's rules."""
    if not settings.tokenizer_normalizes:
        return False
    if settings.normalizer_version == NORMALIZER_VERSION and not has_tweet_normalizer(tokenizer):
        raise ModelSourceError(
            f"{model_dir}: {SETTINGS_FILE} says the tokenizer applies the TweetEval normalisation, but "
            "its tokenizer.json does not hold the rules (edited or replaced?); raw tweets would be "
            "scored unnormalised"
        )
    return True


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
