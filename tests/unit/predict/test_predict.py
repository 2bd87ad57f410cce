"""predict: one output row per input row, in order; bad rows get an error and do not stop the rest."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]

GOOD = ["the train is awful today", "@someone lunch was great http://t.co/x", "the update is released"]


def _mixed_jsonl(path):
    lines = [
        json.dumps({"id": "a", "text": GOOD[0]}),
        "{not json",  # malformed line
        json.dumps({"id": "b", "text": ""}),  # empty
        json.dumps({"id": "c", "text": 42}),  # non-text
        json.dumps({"id": "d", "text": GOOD[1]}),
        json.dumps({"id": "e", "text": "x" * 1001}),  # over-long
        "",  # blank line
        json.dumps(["a", "list"]),  # not an object
        json.dumps({"id": "f", "tweet": "wrong field"}),  # missing field
        json.dumps({"id": "g", "text": "   @bob   "}),  # empty once normalised? no: '@user' remains
        json.dumps({"id": "h", "text": GOOD[2]}),
    ]
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"\xff\xfe broken utf8\n")
    return len(lines) + 1


def _config(model_dir, input_path, output_path, **overrides):
    from tweet_sentiment.predict.config import PredictConfig

    return PredictConfig(
        model=str(model_dir),
        input=str(input_path),
        output=str(output_path),
        chunk_size=3,  # several chunks, so order across chunk boundaries is exercised
        progress=False,
        **overrides,
    )


def test_mixed_good_and_bad_rows_give_one_output_row_each_in_order(tiny_model_dir, tmp_path):
    from tweet_sentiment.predict.cli import run_predict

    source = tmp_path / "mixed.jsonl"
    expected_rows = _mixed_jsonl(source)
    output = tmp_path / "scored.jsonl"
    summary = run_predict(_config(tiny_model_dir, source, output))
    records = [json.loads(line) for line in output.read_text().splitlines()]

    assert len(records) == expected_rows == summary["rows"]
    assert [r["row"] for r in records] == list(range(1, expected_rows + 1))
    errors = {r["row"]: r["error"] for r in records if r["error"]}
    assert set(errors) == {2, 3, 4, 6, 7, 8, 9, 12}
    assert errors[2].startswith("malformed JSON line")
    assert errors[3] == "text is empty"
    assert errors[4] == "text is not a string (int)"
    assert errors[6].startswith("text is over-long (1001 characters")
    assert errors[7] == "empty line"
    assert errors[8] == "expected a JSON object, got list"
    assert errors[9] == "no 'text' field"
    assert errors[12].startswith("invalid UTF-8")
    scored = [r for r in records if not r["error"]]
    assert [r["id"] for r in scored] == ["a", "d", "g", "h"]
    for record in scored:
        assert record["label"] in ("negative", "neutral", "positive")
        assert sum(record["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
        assert record["label"] == max(record["probabilities"], key=record["probabilities"].get)
    assert summary["scored"] == 4 and summary["errors"] == 8


def test_predictions_match_direct_scoring_of_normalised_text(tiny_model_dir, tmp_path):
    """The streamed, chunked, filtered path gives the same probabilities as scoring the texts directly."""
    from tweet_sentiment.core.text import normalize_tweet
    from tweet_sentiment.model.inference import predict_probabilities
    from tweet_sentiment.model.loading import load_classifier, load_tokenizer
    from tweet_sentiment.predict.cli import run_predict

    source = tmp_path / "in.csv"
    with open(source, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        for i, text in enumerate(GOOD * 3):
            writer.writerow([i, text])
        writer.writerow([99])  # too few fields
    output = tmp_path / "out.csv"
    run_predict(_config(tiny_model_dir, source, output, precision="fp32"))
    with open(output, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 10
    assert (
        rows[-1]["error"].startswith("malformed CSV row: expected 2 fields (id, text), got 1")
        and rows[-1]["label"] == ""
    )
    expected = predict_probabilities(
        load_classifier(str(tiny_model_dir), fresh_head=False),
        load_tokenizer(str(tiny_model_dir)),
        [normalize_tweet(t) for t in GOOD * 3],
        precision="fp32",
    )
    got = [[float(r[f"p_{name}"]) for name in ("negative", "neutral", "positive")] for r in rows[:9]]
    np.testing.assert_allclose(got, expected, atol=2e-6)
    assert [r["id"] for r in rows[:9]] == [str(i) for i in range(9)]


@pytest.mark.slow
def test_onnx_backend_from_a_registry_alias(tiny_model_dir, dataset_dir, tmp_path):
    """register (which exports ONNX) -> predict --model latest --backend onnx, through the CLI."""
    from tweet_sentiment.register.step import run_register

    registry = tmp_path / "registry"
    run_register(
        str(tiny_model_dir),
        str(dataset_dir),
        str(registry),
        metrics={"accuracy": 0.5},
        parameters={},
        eval_split="test",
        max_accuracy_drop_points=100.0,  # a random model: keep the file whatever it scores
    )
    source = tmp_path / "in.txt"
    source.write_text("\n".join([*GOOD, "", "x" * 2000]) + "\n")
    result = subprocess.run(
        [sys.executable, "pipeline.py", "predict", "--model", "latest", "--registry", str(registry)]
        + ["--input", str(source), "--backend", "onnx", "--no-progress"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["error"] is None for r in records] == [True, True, True, False, False]
    assert "onnx int8" in result.stderr

    # The pipeline's batch_predict step: same registry, backend auto picks the stored int8 model.
    from tweet_sentiment.predict.step import run_batch_predict

    summary = run_batch_predict(str(source), tmp_path / "artifact", registry_uri=str(registry), model="1")
    lines = (tmp_path / "artifact" / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == summary["rows"] == 5 and summary["errors"] == 2
    got = [list(json.loads(line)["probabilities"].values()) for line in lines[:3]]
    np.testing.assert_allclose(got, [list(r["probabilities"].values()) for r in records[:3]], atol=1e-5)


def test_unknown_alias_is_a_clear_error(tiny_model_dir, tmp_path):
    """A registry whose only version never became champion (its gate failed)."""
    from tweet_sentiment.registry import register_model

    registry = tmp_path / "r"
    register_model(str(registry), tiny_model_dir, metrics={}, parameters={}, dataset_fingerprint="f")
    result = subprocess.run(
        [sys.executable, "pipeline.py", "predict", "--model", "champion", "--registry", str(registry)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "no alias 'champion'" in result.stderr and "Traceback" not in result.stderr


def test_csv_without_the_text_column_is_refused_at_the_header(tmp_path):
    """Refused before any row is read, even when no row would ever parse."""
    import io

    from tweet_sentiment.core.errors import DataSourceError
    from tweet_sentiment.predict.io import read_rows

    stream = io.BytesIO(b"id,tweet\n1,2,3\n4,5,6\n")  # every data row has the wrong field count
    with pytest.raises(
        DataSourceError, match=r"tweets\.csv: the header has no 'text' column \(columns: id, tweet\)"
    ):
        list(read_rows(stream, "csv", str(tmp_path / "tweets.csv")))


def test_every_format_of_the_shared_reader_table_is_scored_alike(tiny_model_dir, tmp_path):
    """predict reads what preprocess reads (readers.FORMATS): Parquet and text give the JSONL results."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tweet_sentiment.predict.cli import run_predict

    pq.write_table(pa.table({"id": ["a", "b", "c"], "text": GOOD}), tmp_path / "tweets.parquet")
    (tmp_path / "tweets.txt").write_text("\n".join(GOOD) + "\n")
    (tmp_path / "tweets.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in GOOD))
    results = {}
    for suffix in ("parquet", "txt", "jsonl"):
        output = tmp_path / f"{suffix}.out.jsonl"
        run_predict(_config(tiny_model_dir, tmp_path / f"tweets.{suffix}", output))
        results[suffix] = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["id"] for r in results["parquet"]] == ["a", "b", "c"]
    for suffix in ("parquet", "txt"):
        assert [r["probabilities"] for r in results[suffix]] == [r["probabilities"] for r in results["jsonl"]]
        assert [r["error"] for r in results[suffix]] == [None] * 3


def test_cli_flags_are_the_config_fields_with_their_defaults():
    import argparse
    from dataclasses import fields

    from tweet_sentiment.core.errors import ConfigError
    from tweet_sentiment.predict.cli import add_predict_command
    from tweet_sentiment.predict.config import PredictConfig

    parser = argparse.ArgumentParser()
    add_predict_command(parser.add_subparsers())
    args = parser.parse_args(["predict", "--model", "m", "--registry", "r"])
    defaults = PredictConfig(model="m", registry="r")
    assert {f.name: getattr(args, f.name) for f in fields(PredictConfig)} == vars(defaults)
    args = parser.parse_args(
        ["predict", "--model", "m", "--batch-size", "8", "--no-progress", "--input-format", "parquet"]
    )
    assert (args.batch_size, args.progress, args.input_format) == (8, False, "parquet")
    with pytest.raises(ConfigError, match="backend must be one of torch, onnx, auto, got 'gpu'"):
        PredictConfig(model="m", backend="gpu")
