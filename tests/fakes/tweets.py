"""Synthetic tweets the tests write themselves: balanced, with the label carried by one sentiment word."""

from __future__ import annotations

import json
import random
from pathlib import Path

_NEGATIVE = ["awful", "terrible", "hate", "worst", "broken", "angry", "disappointed", "horrible"]
_POSITIVE = ["great", "love", "amazing", "best", "awesome", "happy", "fantastic", "wonderful"]
_NEUTRAL = ["scheduled", "announced", "located", "listed", "released", "updated", "opens", "starts"]
_TOPICS = [
    "the train",
    "my phone",
    "this movie",
    "the new album",
    "our flight",
    "the game",
    "lunch",
    "the update",
]


def make_tweets(count: int, seed: int) -> list[dict]:
    """Balanced synthetic tweets whose label is carried by one sentiment word. Texts are unique per seed."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        label = i % 3
        word = rng.choice((_NEGATIVE, _NEUTRAL, _POSITIVE)[label])
        topic = rng.choice(_TOPICS)
        templates = [
            f"{topic} is {word} #{seed}x{i}",
            f"honestly {topic} {word} today ({seed}-{i})",
            f"@someone {topic} was {word} http://t.co/{seed}{i} ref {seed}-{i}",
        ]
        rows.append({"text": rng.choice(templates), "label": label})
    rng.shuffle(rows)
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
