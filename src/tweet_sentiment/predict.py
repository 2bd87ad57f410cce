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
import csv
import io
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from tweet_sentiment.errors import ConfigError, DataSourceError, TweetSentimentError
from tweet_sentiment.labels import LABELS
from tweet_sentiment.text import normalize_tweet

INPUT_FORMATS = ("auto", "jsonl", "csv", "tsv", "text")
OUTPUT_FORMATS = ("auto", "jsonl", "csv")
BACKENDS = ("torch", "onnx", "auto")
_SUFFIX_FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv"}
_SUFFIX_FORMATS.update({".txt": "text"})


@dataclass
class PredictConfig:
    """What to score, with which model and backend, and where the results go."""

    model: str = field(
        metadata={"help": "Registry alias (champion, latest), version number, or a save_pretrained path."}
    )
    registry: str = field(default="", metadata={"help": "Registry URI, for an alias or a version number."})
    input: str = field(default="-", metadata={"help": "Input file, or - for stdin."})
    output: str = field(default="-", metadata={"help": "Output file, or - for stdout."})
    input_format: str = field(default="auto", metadata={"help": "auto (from the suffix; stdin: jsonl), ..."})
    output_format: str = field(default="auto", metadata={"help": "auto (from the suffix; stdout: jsonl)."})
    text_column: str = field(default="text", metadata={"help": "Field holding the tweet (JSONL/CSV)."})
    id_column: str = field(default="id", metadata={"help": "Field copied to the output when present."})
    backend: str = field(
        default="torch",
        metadata={"help": "torch; onnx (the stored ONNX export); auto: onnx where stored, else torch."},
    )
    onnx_variant: str = field(default="int8", metadata={"help": "ONNX file to use: int8 or fp32."})
    precision: str = field(
        default="auto",
        metadata={"help": "torch only: auto (bf16 where the CPU has native bf16), fp32, bf16."},
    )
    batch_size: int = field(default=64, metadata={"help": "Most tweets per forward pass."})
    max_batch_tokens: int = field(default=4096, metadata={"help": "Most padded tokens per forward pass."})
    max_length: int = field(default=128, metadata={"help": "Tokens kept per tweet (longer: truncated)."})
    max_text_chars: int = field(
        default=1000, metadata={"help": "Longer texts are rejected (as in training)."}
    )
    chunk_size: int = field(default=2048, metadata={"help": "Rows read, scored and written at a time."})
    threads: int = field(default=0, metadata={"help": "CPU threads (0: all this process may use)."})
    progress: bool = field(default=True, metadata={"help": "Show a progress bar on stderr."})

    def __post_init__(self) -> None:
        problems = []
        if self.input_format not in INPUT_FORMATS:
            problems.append(f"input_format must be one of {', '.join(INPUT_FORMATS)}")
        if self.output_format not in OUTPUT_FORMATS:
            problems.append(f"output_format must be one of {', '.join(OUTPUT_FORMATS)}")
        if self.backend not in BACKENDS:
            problems.append(f"backend must be one of {', '.join(BACKENDS)}")
        if self.precision not in ("auto", "fp32", "bf16"):
            problems.append("precision must be auto, fp32 or bf16")
        for name in ("batch_size", "max_length", "max_text_chars", "chunk_size"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        if self.max_batch_tokens < 0 or self.threads < 0:
            problems.append("max_batch_tokens and threads must be >= 0")
        if problems:
            raise ConfigError("invalid predict configuration: " + "; ".join(problems))


@dataclass
class InputRow:
    """One input row: its 1-based number (a line number for JSONL/CSV), the text or the problem with it."""

    row: int
    text: str | None = None
    error: str | None = None
    row_id: Any = None


# ----------------------------------------------------------------------------- reading


def _format_for(path: str, requested: str, choices: dict[str, str], default: str) -> str:
    if requested != "auto":
        return requested
    if path == "-":
        return default
    suffix = Path(path).suffix.lower()
    if suffix not in choices:
        raise ConfigError(f"cannot tell the format of {path!r} from its suffix; pass the format explicitly")
    return choices[suffix]


def _check_text(value: Any, max_chars: int) -> tuple[str | None, str | None]:
    if value is None:
        return None, "text is missing (null)"
    if not isinstance(value, str):
        return None, f"text is not a string ({type(value).__name__})"
    if len(value) > max_chars:
        return None, f"text is over-long ({len(value)} characters; the limit is {max_chars})"
    if not normalize_tweet(value):
        return None, "text is empty"
    return value, None


def read_rows(stream: io.BufferedIOBase, fmt: str, config: PredictConfig) -> Iterator[InputRow]:
    """Yield one :class:`InputRow` per input row (binary stream in); never raises on a bad row.

    JSONL and CSV/TSV go through the same readers as preprocess (``tweet_sentiment.data``), so a
    malformed line or bad UTF-8 is described the same way in both places.
    """
    from tweet_sentiment.data import decode_utf8_line, iter_delimited, iter_jsonl

    if fmt == "text":
        for number, raw in enumerate(stream, start=1):
            line, problem = decode_utf8_line(raw)
            if problem is not None:
                yield InputRow(number, error=problem)
                continue
            text, error = _check_text(line.rstrip("\r\n"), config.max_text_chars)
            yield InputRow(number, text=text, error=error)
        return

    def check_header(header: list[str]) -> None:
        if config.text_column not in header:
            raise DataSourceError(
                f"{config.input}: the header has no {config.text_column!r} column "
                f"(columns: {', '.join(header)}); pass --text-column"
            )

    if fmt in ("csv", "tsv"):
        raw_rows = iter_delimited(stream, config.input, "," if fmt == "csv" else "\t", check_header)
    else:
        raw_rows = iter_jsonl(stream, config.input, blank_lines_are_rows=True)
    for raw in raw_rows:
        if raw.problem is not None:
            yield InputRow(raw.row, error=raw.problem)
            continue
        record = raw.record or {}
        row_id = record.get(config.id_column)
        if config.text_column not in record:
            yield InputRow(raw.row, error=f"no {config.text_column!r} field", row_id=row_id)
            continue
        text, error = _check_text(record[config.text_column], config.max_text_chars)
        yield InputRow(raw.row, text=text, error=error, row_id=row_id)


def _chunks(rows: Iterable[InputRow], size: int) -> Iterator[list[InputRow]]:
    chunk: list[InputRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# ----------------------------------------------------------------------------- scoring


def resolve_model_dir(model: str, registry: str) -> Path:
    """A local save_pretrained directory for ``--model``: a path, a gs:// prefix, or a registry reference."""
    from tweet_sentiment.modeling import resolve_model_source
    from tweet_sentiment.storage import is_remote

    if is_remote(model) or Path(model).expanduser().exists() or model.startswith((".", "/", "~")):
        return Path(resolve_model_source(model))
    if not registry:
        raise ConfigError(
            f"--model {model!r} is neither an existing directory nor usable without a registry; "
            "pass --registry (or set TWEET_SENTIMENT_REGISTRY) to resolve an alias or version"
        )
    from tweet_sentiment.registry import open_registry

    store = open_registry(registry)
    return Path(store.model_dir(store.resolve(model)))


class Scorer:
    """Texts in, probabilities out, with the configured backend. Texts must already be normalised."""

    def __init__(self, model_dir: Path, config: PredictConfig):
        from tweet_sentiment.inference import inference_precision, set_cpu_threads
        from tweet_sentiment.modeling import load_classifier, load_tokenizer

        self.config = config
        threads = set_cpu_threads(config.threads)
        tokenizer = load_tokenizer(str(model_dir))
        backend = config.backend
        if backend == "auto":
            from tweet_sentiment.inference import has_onnx_model

            backend = "onnx" if has_onnx_model(model_dir, config.onnx_variant) else "torch"
        if backend == "onnx":
            from tweet_sentiment.inference import OnnxClassifier, onnx_model_path

            self.onnx = OnnxClassifier(
                onnx_model_path(model_dir, config.onnx_variant), tokenizer, threads=threads
            )
            self.description = f"onnx {config.onnx_variant} ({self.onnx.path})"
        else:
            import torch

            self.onnx = None
            self.model = load_classifier(str(model_dir), fresh_head=False).eval()
            self.tokenizer = tokenizer
            self.precision = inference_precision(config.precision, torch.device("cpu"))
            self.description = f"torch {self.precision} ({model_dir})"

    def __call__(self, texts: list[str]):
        kwargs = {
            "batch_size": self.config.batch_size,
            "max_length": self.config.max_length,
            "max_batch_tokens": self.config.max_batch_tokens,
        }
        if self.onnx is not None:
            return self.onnx.predict_probabilities(texts, **kwargs)
        from tweet_sentiment.inference import predict_probabilities

        return predict_probabilities(self.model, self.tokenizer, texts, precision=self.precision, **kwargs)


# ----------------------------------------------------------------------------- writing


class _Writer:
    def __init__(self, handle: TextIO, fmt: str):
        self.handle = handle
        self.fmt = fmt
        self.csv = None
        if fmt == "csv":
            self.csv = csv.writer(handle)
            self.csv.writerow(["row", "id", "label", *(f"p_{name}" for name in LABELS), "error"])

    def write(self, row: InputRow, probabilities) -> None:
        label = LABELS[int(probabilities.argmax())] if probabilities is not None else None
        if self.csv is not None:
            figures = [f"{p:.6f}" for p in probabilities] if probabilities is not None else [""] * len(LABELS)
            self.csv.writerow(
                [row.row, "" if row.row_id is None else row.row_id, label or "", *figures, row.error or ""]
            )
            return
        record: dict[str, Any] = {"row": row.row}
        if row.row_id is not None:
            record["id"] = row.row_id
        record["label"] = label
        record["probabilities"] = (
            {name: round(float(p), 6) for name, p in zip(LABELS, probabilities, strict=True)}
            if probabilities is not None
            else None
        )
        record["error"] = row.error
        self.handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def predict_stream(
    rows: Iterable[InputRow], scorer, writer: _Writer, chunk_size: int, progress=None
) -> dict[str, int]:
    """Score ``rows`` chunk by chunk and write one output row per input row, in order."""
    counts = {"rows": 0, "scored": 0, "errors": 0}
    for chunk in _chunks(rows, chunk_size):
        good = [row for row in chunk if row.error is None]
        probabilities = iter(scorer([normalize_tweet(row.text) for row in good]) if good else [])
        for row in chunk:
            writer.write(row, next(probabilities) if row.error is None else None)
        writer.handle.flush()
        counts["rows"] += len(chunk)
        counts["scored"] += len(good)
        counts["errors"] += len(chunk) - len(good)
        if progress is not None:
            progress.update(len(chunk))
    return counts


def _count_lines(path: str) -> int | None:
    if path == "-":
        return None
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def run_predict(config: PredictConfig) -> dict[str, Any]:
    """Score ``config.input`` into ``config.output``; returns counts and throughput."""
    from tqdm.auto import tqdm

    input_format = _format_for(config.input, config.input_format, _SUFFIX_FORMATS, "jsonl")
    output_format = _format_for(
        config.output, config.output_format, {".jsonl": "jsonl", ".csv": "csv"}, "jsonl"
    )
    if config.input != "-" and not Path(config.input).is_file():
        raise DataSourceError(f"input {config.input!r}: no such file")
    scorer = Scorer(resolve_model_dir(config.model, config.registry), config)
    print(f"predict: scoring with {scorer.description}", file=sys.stderr, flush=True)
    total = _count_lines(config.input)
    if total is not None and input_format in ("csv", "tsv"):
        total = max(0, total - 1)  # the header
    with contextlib.ExitStack() as stack:
        in_handle = sys.stdin.buffer if config.input == "-" else stack.enter_context(open(config.input, "rb"))
        if config.output == "-":
            out_handle = sys.stdout
        else:
            Path(config.output).parent.mkdir(parents=True, exist_ok=True)
            out_handle = stack.enter_context(open(config.output, "w", encoding="utf-8", newline=""))
        started = time.perf_counter()
        progress = stack.enter_context(
            tqdm(total=total, unit="tweet", desc="predict", file=sys.stderr, disable=not config.progress)
        )
        counts = predict_stream(
            read_rows(in_handle, input_format, config),
            scorer,
            _Writer(out_handle, output_format),
            config.chunk_size,
            progress,
        )
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


# ----------------------------------------------------------------------------- CLI


def add_predict_command(subparsers) -> argparse.ArgumentParser:
    """Add ``predict`` to an ``argparse`` sub-command set (pipeline.py uses it)."""
    parser = subparsers.add_parser(
        "predict",
        help="score tweets with a registered or saved model (streams; one output row per input row)",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument(
        "--model", required=True, help=PredictConfig.__dataclass_fields__["model"].metadata["help"]
    )
    parser.add_argument(
        "--registry",
        default=os.environ.get("TWEET_SENTIMENT_REGISTRY", "model_registry"),
        help="registry URI for an alias or version (default: $TWEET_SENTIMENT_REGISTRY or model_registry)",
    )
    parser.add_argument("--input", default="-", help="JSONL, CSV, TSV or text file; - for stdin")
    parser.add_argument("--output", default="-", help="JSONL or CSV file; - for stdout")
    parser.add_argument("--input-format", choices=INPUT_FORMATS, default="auto")
    parser.add_argument("--output-format", choices=OUTPUT_FORMATS, default="auto")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--id-column", default="id")
    parser.add_argument("--backend", choices=BACKENDS, default="torch")
    parser.add_argument("--onnx-variant", choices=("int8", "fp32"), default="int8")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-batch-tokens", type=int, default=4096)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--max-text-chars", type=int, default=1000)
    parser.add_argument("--chunk-size", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=handle_predict)
    return parser


def handle_predict(args: argparse.Namespace) -> int:
    try:
        config = PredictConfig(
            model=args.model,
            registry=args.registry,
            input=args.input,
            output=args.output,
            input_format=args.input_format,
            output_format=args.output_format,
            text_column=args.text_column,
            id_column=args.id_column,
            backend=args.backend,
            onnx_variant=args.onnx_variant,
            precision=args.precision,
            batch_size=args.batch_size,
            max_batch_tokens=args.max_batch_tokens,
            max_length=args.max_length,
            max_text_chars=args.max_text_chars,
            chunk_size=args.chunk_size,
            threads=args.threads,
            progress=not args.no_progress,
        )
        run_predict(config)
    except TweetSentimentError as exc:
        print(f"predict: {exc}", file=sys.stderr)
        return 2
    return 0


def run_batch_predict(
    source: str,
    output_dir: str | os.PathLike[str],
    *,
    registry_uri: str,
    model: str,
    backend: str = "auto",
    text_column: str = "text",
    max_length: int = PredictConfig.max_length,
) -> dict[str, Any]:
    """Score ``source`` (a local or gs:// JSONL/CSV/TSV/text file) into ``output_dir/predictions.jsonl``.

    The pipeline's batch_predict step. Returns flat figures for the output artifact's metadata.
    """
    import tempfile

    from tweet_sentiment.storage import fetch_file

    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="batch-predict-") as workdir:
        config = PredictConfig(
            model=model,
            registry=registry_uri,
            input=str(fetch_file(source, workdir)),
            output=str(output / "predictions.jsonl"),
            backend=backend,
            text_column=text_column,
            max_length=max_length,
            progress=False,
        )
        summary = run_predict(config)
    summary.update({"source": source, "model": model})
    (output / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
