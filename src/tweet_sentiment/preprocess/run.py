"""Reading, validating and normalising tweet data into the pipeline's Dataset artifact.

A source is one of:

* a Hugging Face Hub id (``cardiffnlp/tweet_eval`` with config ``sentiment``),
* a local directory whose files are named by split (``train.jsonl``, ``validation.csv``,
  ``test-00000-of-00001.parquet``, ...) or a single such file,
* a ``gs://`` prefix laid out like a local directory.

Every row is checked. A problem with a whole file (missing column, empty file, missing
split, unreadable format) stops the run with an error naming the file. A problem with
one row (bad label, empty or over-long text, malformed line, bad UTF-8, duplicate) is
recorded with its file and row number in ``quarantine.jsonl``; the run stops only when
the bad rows exceed the configured budget. No row is ever dropped without a record.

The artifact written is a directory with one ``<split>.jsonl`` per split
(``{"text": str, "label": int}``), ``quarantine.jsonl`` and ``stats.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tweet_sentiment.core.dataset import SPLITS, SplitData
from tweet_sentiment.core.errors import DataValidationError
from tweet_sentiment.core.labels import LABELS
from tweet_sentiment.preprocess.config import PreprocessConfig
from tweet_sentiment.preprocess.dev_split import apply_dev_split
from tweet_sentiment.preprocess.sources import resolve_source
from tweet_sentiment.preprocess.validate import (
    MAX_LISTED_PROBLEMS,
    Problem,
    problem_kind,
    quarantine_leaks,
    validate_split,
)


def preprocess(config: PreprocessConfig, output_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read, validate and normalise ``config.source`` into ``output_dir``. Returns the artifact metadata."""
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as workdir:
        split_rows = resolve_source(config, Path(workdir))
        missing = [s for s in config.required_splits if s not in split_rows]
        if missing:
            found = ", ".join(sorted(split_rows)) or "none"
            raise DataValidationError(
                f"{config.source}: missing split(s) {', '.join(missing)} (splits found: {found}); "
                f"name files train/validation/test, e.g. validation.jsonl"
            )
        problems: list[Problem] = []
        splits: dict[str, SplitData] = {}
        rows_read: dict[str, int] = {}
        for split in SPLITS:
            if split in split_rows:
                splits[split], rows_read[split] = validate_split(split, split_rows[split], config, problems)
    for split, read in rows_read.items():
        if read == 0:
            raise DataValidationError(f"{config.source}: split {split!r} has no rows")
    quarantine_leaks(splits, problems)
    selection = apply_dev_split(splits, config.held_out_split, config.dev_fraction)

    # Every bad row is recorded before the budget is checked, so a refused run still says where they are.
    quarantine = output / "quarantine.jsonl"
    with open(quarantine, "w", encoding="utf-8") as handle:
        for problem in problems:
            handle.write(json.dumps(asdict(problem), ensure_ascii=False) + "\n")
    total_rows = sum(rows_read.values())
    budget = int(config.max_bad_fraction * total_rows)
    if len(problems) > budget:
        listed = "\n  ".join(str(p) for p in problems[:MAX_LISTED_PROBLEMS])
        raise DataValidationError(
            f"{config.source}: {len(problems)} bad row(s) of {total_rows}, over the budget of {budget} "
            f"(max_bad_fraction={config.max_bad_fraction}); all of them in {quarantine}\n"
            f"the first {min(len(problems), MAX_LISTED_PROBLEMS)}:\n  {listed}"
        )

    digest = hashlib.sha256()
    for split, data in splits.items():
        path = output / f"{split}.jsonl"
        with open(path, "w", encoding="utf-8") as handle:
            for text, label in zip(data.texts, data.labels, strict=True):
                line = json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n"
                handle.write(line)
                digest.update(f"{split}\t{line}".encode())
    stats: dict[str, Any] = {
        "source": config.source,
        "fingerprint": digest.hexdigest(),
        "splits": sorted(splits),
        "bad_rows": len(problems),
        "bad_rows_by_problem": dict(Counter(problem_kind(p.problem) for p in problems)),
        **selection,
    }
    for split, data in splits.items():
        counts = Counter(data.labels)
        stats[f"{split}_rows"] = len(data.labels)
        stats[f"{split}_label_counts"] = {name: counts.get(i, 0) for i, name in enumerate(LABELS)}
    (output / "stats.json").write_text(
        json.dumps(stats, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return stats
