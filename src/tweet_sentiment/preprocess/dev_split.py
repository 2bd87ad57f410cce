"""The dev split: the rows that model choices (best checkpoint, sweep trial, soup) are made on.

When the data brings no split for choices besides the one evaluate reports on (TweetEval-style data
with only train and validation, evaluated on validation), preprocess carves ``dev`` out of train,
so that the evaluation split is read by evaluate alone and its figure is not inflated by selection.

The rule: a train row goes to dev when ``sha256(key) / 2**256 < dev_fraction``, where ``key`` is its
normalised text, case-folded, with runs of white space collapsed. So

* the split is deterministic and stable across snapshots: a tweet's side depends on its text only,
  not on what else the snapshot holds, and a tweet used for choices in one month's run is never
  trained on in the next month's;
* duplicates of one text (after normalisation, up to case and spacing) always land on the same side;
* it is stratified within sampling tolerance: the hash knows nothing of the label, so each class
  gives dev a share of ``dev_fraction`` up to binomial noise (sd ``sqrt(f (1 - f) / n_class)``),
  measured and recorded per class in ``stats.json``. An exact per-class quota would move
  boundary tweets between sides whenever the snapshot changes, which the threshold never does;
* it never overlaps the evaluation split: preprocess quarantines train rows whose text is in a
  held-out split before the dev split is carved, and :func:`apply_dev_split` checks it again.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from tweet_sentiment.core.dataset import SOURCE_SELECTION_SPLIT
from tweet_sentiment.core.errors import ConfigError
from tweet_sentiment.core.labels import LABELS

if TYPE_CHECKING:
    from tweet_sentiment.core.dataset import SplitData

DEV_SPLIT = "dev"
RULE = (
    "a train row goes to dev when sha256(casefold(normalised text), spaces collapsed) / 2**256 "
    "< dev_fraction; the same text always lands on the same side"
)


def dev_key(text: str) -> str:
    """What the hash sees: the normalised text, case-folded, white space collapsed."""
    return " ".join(text.casefold().split())


def dev_bucket(text: str) -> float:
    """A uniform number in [0, 1) that is a function of :func:`dev_key` of ``text`` alone."""
    digest = hashlib.sha256(dev_key(text).encode("utf-8")).digest()
    return int.from_bytes(digest, "big") / 2**256


def carve_dev_split(train: SplitData, fraction: float) -> tuple[SplitData, SplitData]:
    """``(train rows kept, dev rows)``: the rows whose :func:`dev_bucket` is below ``fraction`` go to dev.

    Order within each side is the order in ``train``.
    """
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"dev_fraction must be in [0, 1), got {fraction}")
    kept, dev = type(train)(), type(train)()
    for text, label, origin in zip(
        train.texts, train.labels, train.origins or _no_origins(train), strict=True
    ):
        side = dev if dev_bucket(text) < fraction else kept
        side.texts.append(text)
        side.labels.append(label)
        side.origins.append(origin)
    return kept, dev


def _no_origins(split: SplitData) -> list[tuple[str, int]]:
    return [("", i) for i in range(1, len(split.texts) + 1)]


def selection_split(available: set[str] | list[str], eval_split: str, dev_fraction: float) -> str:
    """The split model choices are made on.

    The source's own ``validation`` when it is not the evaluation split; otherwise the carved ``dev``
    (``dev_fraction`` > 0 and the evaluation split known); otherwise what training used before there
    was a dev split: ``validation`` if present (even when it is the evaluation split), else none ("").
    """
    if SOURCE_SELECTION_SPLIT in available and eval_split != SOURCE_SELECTION_SPLIT:
        return SOURCE_SELECTION_SPLIT
    if dev_fraction > 0 and eval_split:
        return DEV_SPLIT
    return SOURCE_SELECTION_SPLIT if SOURCE_SELECTION_SPLIT in available else ""


def apply_dev_split(splits: dict[str, SplitData], eval_split: str, dev_fraction: float) -> dict[str, Any]:
    """Carve ``dev`` out of ``splits["train"]`` when :func:`selection_split` says so (in place).

    Returns what goes into ``stats.json``: ``selection_split`` and, when a dev split was carved, a
    ``dev_split`` record with the rule, the fraction and the rows per class per split.
    """
    chosen = selection_split(set(splits), eval_split, dev_fraction)
    stats: dict[str, Any] = {"selection_split": chosen}
    if chosen != DEV_SPLIT or "train" not in splits:
        return stats
    if DEV_SPLIT in splits:
        raise ConfigError(f"the dataset already has a {DEV_SPLIT!r} split; cannot carve another")
    before = _label_counts(splits["train"])
    splits["train"], splits[DEV_SPLIT] = carve_dev_split(splits["train"], dev_fraction)
    held_out = {
        text for name, data in splits.items() if name not in ("train", DEV_SPLIT) for text in data.texts
    }
    overlap = held_out.intersection(splits[DEV_SPLIT].texts)
    if overlap:  # preprocess quarantines train rows found in a held-out split before this runs
        raise AssertionError(
            f"{len(overlap)} dev text(s) also in a held-out split, e.g. {next(iter(overlap))!r}"
        )
    dev, kept = _label_counts(splits[DEV_SPLIT]), _label_counts(splits["train"])
    stats["dev_split"] = {
        "carved_from": "train",
        "rule": RULE,
        "dev_fraction": dev_fraction,
        "rows": {"train": kept, DEV_SPLIT: dev},
        "dev_share_by_class": {
            name: round(dev[name] / before[name], 4) if before[name] else None for name in LABELS
        },
    }
    return stats


def _label_counts(split: SplitData) -> dict[str, int]:
    return {name: sum(1 for label in split.labels if label == i) for i, name in enumerate(LABELS)}
