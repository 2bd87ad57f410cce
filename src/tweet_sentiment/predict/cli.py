"""Streaming batch prediction: tweets in (JSONL, CSV/TSV, plain text, stdin), labels and probabilities out.

    python pipeline.py predict --model champion --registry model_registry \
        --input tweets.jsonl --output scored.jsonl
    cat tweets.txt | python pipeline.py predict --model ./my-model --input - --input-format text

Rows are read lazily and scored a chunk at a time, so memory stays flat on files of any
size. Every input row gives exactly one output row, in input order: a bad row (malformed
line, missing or non-text field, empty or over-long text) gets an ``error`` instead of a
label, and the rest of the file is still scored. Texts are normalised exactly as in training.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import fields
from pathlib import Path
from typing import Any

from tweet_sentiment.core.errors import ConfigError, DataSourceError, TweetSentimentError
from tweet_sentiment.predict.config import CHOICES, PredictConfig
from tweet_sentiment.predict.io import (
    STDIO,
    InputRow,
    RowWriter,
    chunks,
    count_lines,
    input_format,
    output_format,
    read_rows,
)


def resolve_model_dir(model: str, registry: str) -> Path:
    """A local save_pretrained directory for ``--model``: a path, a remote prefix, a ``pkg:`` package, or
    a registry reference (alias or version number)."""
    from tweet_sentiment.core.storage import is_hub_id
    from tweet_sentiment.model.loading import resolve_model_source

    if not is_hub_id(model):  # a path, a remote prefix or a package; otherwise a registry reference
        return Path(resolve_model_source(model))
    if not registry:
        raise ConfigError(
            f"--model {model!r} is neither an existing directory nor usable without a registry; "
            "pass --registry (or set TWEET_SENTIMENT_REGISTRY) to resolve an alias or version"
        )
    from tweet_sentiment.registry import open_existing_registry

    store = open_existing_registry(registry)
    return Path(store.model_dir(store.resolve(model)))


def predict_stream(
    rows: Iterable[InputRow], scorer, writer: RowWriter, chunk_size: int, progress=None
) -> dict[str, int]:
    """Score ``rows`` chunk by chunk and write one output row per input row, in order."""
    counts = {"rows": 0, "scored": 0, "errors": 0}
    for chunk in chunks(rows, chunk_size):
        good = [row for row in chunk if row.error is None]
        # Raw tweets: the model's tokenizer normalises them (or score_raw does, for older models).
        probabilities = iter(scorer.score_raw([row.text for row in good]) if good else [])
        for row in chunk:
            writer.write(row, next(probabilities) if row.error is None else None)
        writer.handle.flush()
        counts["rows"] += len(chunk)
        counts["scored"] += len(good)
        counts["errors"] += len(chunk) - len(good)
        if progress is not None:
            progress.update(len(chunk))
    return counts


def run_predict(config: PredictConfig) -> dict[str, Any]:
    """Score ``config.input`` into ``config.output``; returns counts and throughput."""
    from tqdm.auto import tqdm

    from tweet_sentiment.model.inference import Scorer

    in_format = input_format(config.input, config.input_format)
    out_format = output_format(config.output, config.output_format)
    if config.input != STDIO and not Path(config.input).is_file():
        raise DataSourceError(f"input {config.input!r}: no such file")
    scorer = Scorer(
        resolve_model_dir(config.model, config.registry),
        backend=config.backend,
        onnx_variant=config.onnx_variant,
        precision=config.precision,
        threads=config.threads,
        batch_size=config.batch_size,
        max_length=config.max_length,
        max_batch_tokens=config.max_batch_tokens,
    )
    print(f"predict: scoring with {scorer.description}", file=sys.stderr, flush=True)
    total = count_lines(config.input) if in_format != "parquet" else None
    if total is not None and in_format in ("csv", "tsv"):
        total = max(0, total - 1)  # the header
    with contextlib.ExitStack() as stack:
        in_handle = (
            sys.stdin.buffer if config.input == STDIO else stack.enter_context(open(config.input, "rb"))
        )
        if config.output == STDIO:
            out_handle = sys.stdout
        else:
            Path(config.output).parent.mkdir(parents=True, exist_ok=True)
            out_handle = stack.enter_context(open(config.output, "w", encoding="utf-8", newline=""))
        started = time.perf_counter()
        progress = stack.enter_context(
            tqdm(total=total, unit="tweet", desc="predict", file=sys.stderr, disable=not config.progress)
        )
        rows = read_rows(
            in_handle,
            in_format,
            config.input,
            text_column=config.text_column,
            id_column=config.id_column,
            max_text_chars=config.max_text_chars,
        )
        counts = predict_stream(rows, scorer, RowWriter(out_handle, out_format), config.chunk_size, progress)
    seconds = time.perf_counter() - started
    summary = {
        **counts,
        "seconds": round(seconds, 2),
        "tweets_per_second": round(counts["scored"] / seconds, 1),
    }
    print(
        f"predict: {counts['rows']} rows, {counts['scored']} scored, {counts['errors']} with errors, "
        f"{summary['tweets_per_second']} tweets/s",
        file=sys.stderr,
        flush=True,
    )
    return summary


def add_predict_command(subparsers) -> argparse.ArgumentParser:
    """Add ``predict`` to an ``argparse`` sub-command set (pipeline.py uses it): one flag per
    ``PredictConfig`` field, with the field's default and help."""
    parser = subparsers.add_parser(
        "predict",
        help="score tweets with a registered or saved model (streams; one output row per input row)",
        description=__doc__.split("\n\n")[0],
    )
    for spec in fields(PredictConfig):
        flag, help_text = "--" + spec.name.replace("_", "-"), spec.metadata["help"]
        if spec.name == "model":
            parser.add_argument(flag, required=True, help=help_text)
        elif spec.name == "registry":
            parser.add_argument(
                flag,
                default=os.environ.get("TWEET_SENTIMENT_REGISTRY", "model_registry"),
                help=f"{help_text} (default: $TWEET_SENTIMENT_REGISTRY or model_registry)",
            )
        elif spec.name == "progress":
            parser.add_argument(
                "--no-progress", dest="progress", action="store_false", help="no progress bar"
            )
        else:
            kind = type(spec.default)
            parser.add_argument(
                flag, type=kind, default=spec.default, choices=CHOICES.get(spec.name), help=help_text
            )
    parser.set_defaults(handler=handle_predict)
    return parser


def handle_predict(args: argparse.Namespace) -> int:
    try:
        config = PredictConfig(**{spec.name: getattr(args, spec.name) for spec in fields(PredictConfig)})
        run_predict(config)
    except TweetSentimentError as exc:
        print(f"predict: {exc}", file=sys.stderr)
        return 2
    return 0
