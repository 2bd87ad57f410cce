"""What the text normaliser's version 2 (``core/text.py``: one table run by ``tokenizers``) changes
against version 1 (Python ``re``, kept below as it was), on real tweets, and what it costs.

    python -m bench.normalizer_versions --data ../shared/data/tweet_eval_sentiment/train.jsonl \
        --data ../shared/data/tweet_eval_sentiment/validation.jsonl

Prints the rows read, how many normalise differently under the two versions (with up to five
examples), and microseconds per tweet for each (one pass, wall clock: a loose figure on a shared
machine; name the machine and its load with it).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

_MENTION_V1 = re.compile(r"(?<![\w@])@\w{1,50}")
_URL_V1 = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_ESCAPE_V1 = re.compile(r"\\u([0-9a-fA-F]{4})")
_SPACES_V1 = re.compile(r"\s+")


def _decode_v1(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return match.group(0) if 0xD800 <= ord(char) <= 0xDFFF else char


def normalize_v1(text: str) -> str:
    """Version 1 of the rules, as ``core/text.py`` had them before issue 20."""
    text = _ESCAPE_V1.sub(_decode_v1, text)
    text = _URL_V1.sub(" ", text)
    text = _MENTION_V1.sub("@user", text)
    return _SPACES_V1.sub(" ", text).strip()


def _timed(function, texts: list[str]) -> tuple[list[str], float]:
    started = time.perf_counter()
    out = [function(t) for t in texts]
    return out, (time.perf_counter() - started) / max(1, len(texts)) * 1e6


def main(argv: list[str] | None = None) -> None:
    from tweet_sentiment.core.text import NORMALIZER_VERSION, normalize_tweet

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", action="append", required=True, help="a JSONL file with a text field")
    args = parser.parse_args(argv)
    texts = [
        json.loads(line)["text"]
        for path in args.data
        for line in Path(path).read_text(encoding="utf-8").splitlines()
    ]
    old, old_us = _timed(normalize_v1, texts)
    new, new_us = _timed(normalize_tweet, texts)
    differ = [(t, a, b) for t, a, b in zip(texts, old, new, strict=True) if a != b]
    print(f"rows {len(texts)}; normalised differently by version 1 and {NORMALIZER_VERSION}: {len(differ)}")
    for text, a, b in differ[:5]:
        print(f"  {text!r}\n    v1 {a!r}\n    v{NORMALIZER_VERSION} {b!r}")
    print(f"microseconds per tweet: version 1 {old_us:.1f}, version {NORMALIZER_VERSION} {new_us:.1f}")


if __name__ == "__main__":
    main()
