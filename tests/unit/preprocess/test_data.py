"""preprocess: reading, validation, quarantine and the Dataset artifact."""

import json
from pathlib import Path

import pytest

from tests.fakes.tweets import make_tweets, write_jsonl
from tweet_sentiment.core.dataset import load_split
from tweet_sentiment.core.errors import ConfigError, DataSourceError, DataValidationError
from tweet_sentiment.preprocess.config import PreprocessConfig
from tweet_sentiment.preprocess.run import preprocess

GOOD = [{"text": f"tweet number {i} is {w}", "label": i % 3} for i, w in enumerate(["bad", "ok", "good"] * 4)]


def _source(tmp_path: Path, train_lines: list[bytes], *, name: str = "train.jsonl") -> Path:
    """A source directory whose train file has the given raw lines and a clean test file."""
    root = tmp_path / "src"
    root.mkdir()
    (root / name).write_bytes(b"".join(line.rstrip(b"\n") + b"\n" for line in train_lines))
    write_jsonl(root / "test.jsonl", make_tweets(6, seed=99))
    return root


def _jsonl(rows) -> list[bytes]:
    return [json.dumps(r).encode() for r in rows]


def _run(source: Path, out: Path, budget: float = 0.0):
    config = PreprocessConfig(
        source=str(source), required_splits=("train", "test"), max_bad_fraction=budget, max_text_chars=280
    )
    return preprocess(config, out)


# Row-level problems: each bad row is named (file, row, problem) when over budget, quarantined when within.
ROW_PROBLEMS = {
    "unknown label": (
        json.dumps({"text": "what a day", "label": "ecstatic"}).encode(),
        "unknown label 'ecstatic'",
    ),
    "empty text": (json.dumps({"text": "   ", "label": 1}).encode(), "empty text"),
    "bad utf-8": (b'{"text": "caf\xe9 is closed", "label": 0}', "invalid UTF-8"),
    "malformed json line": (b'{"text": "unterminated, "label": 1', "malformed JSON line"),
    "wrong label type": (
        json.dumps({"text": "meh", "label": 1.5}).encode(),
        "label has the wrong type float",
    ),
    "over-long text": (
        json.dumps({"text": "a" * 300, "label": 2}).encode(),
        "300 characters long, over the limit",
    ),
}


@pytest.mark.parametrize("kind", sorted(ROW_PROBLEMS))
def test_bad_row_is_named_when_over_budget(kind, tmp_path):
    bad_line, problem = ROW_PROBLEMS[kind]
    lines = _jsonl(GOOD[:5]) + [bad_line] + _jsonl(GOOD[5:])
    with pytest.raises(DataValidationError) as error:
        _run(_source(tmp_path, lines), tmp_path / "out", budget=0.0)
    message = str(error.value)
    assert "train.jsonl: row 6:" in message, message
    assert problem in message
    assert "over the budget" in message
    quarantine = tmp_path / "out" / "quarantine.jsonl"
    assert message.splitlines()[0].endswith(f"all of them in {quarantine}")
    assert message.splitlines()[1] == "the first 1:"
    assert len(quarantine.read_text().splitlines()) == 1  # written although the run is refused


@pytest.mark.parametrize("kind", sorted(ROW_PROBLEMS))
def test_bad_row_is_quarantined_and_counted_within_budget(kind, tmp_path):
    bad_line, problem = ROW_PROBLEMS[kind]
    lines = _jsonl(GOOD[:5]) + [bad_line] + _jsonl(GOOD[5:])
    stats = _run(_source(tmp_path, lines), tmp_path / "out", budget=0.2)
    assert stats["bad_rows"] == 1
    assert stats["train_rows"] == len(GOOD)  # every good row kept: read = kept + quarantined
    quarantined = [json.loads(x) for x in (tmp_path / "out" / "quarantine.jsonl").read_text().splitlines()]
    assert len(quarantined) == 1
    assert quarantined[0]["row"] == 6 and quarantined[0]["split"] == "train"
    assert problem in quarantined[0]["problem"]


def test_malformed_csv_row(tmp_path):
    lines = [b"text,label", b"fine day,positive", b"too,many,fields,2", b'"quoted, comma",neutral']
    source = _source(tmp_path, lines, name="train.csv")
    with pytest.raises(DataValidationError, match=r"train\.csv: row 3: malformed CSV row: expected 2 fields"):
        _run(source, tmp_path / "out")
    stats = _run(source, tmp_path / "out2", budget=0.5)
    assert stats["bad_rows"] == 1 and stats["train_rows"] == 2
    assert load_split(tmp_path / "out2", "train").texts == ["fine day", "quoted, comma"]


def test_missing_column_is_a_file_error(tmp_path):
    source = _source(tmp_path, _jsonl([{"text": "hi", "sentiment": 2}]))
    with pytest.raises(
        DataValidationError,
        match=r"train\.jsonl: missing column\(s\) 'label' \(columns found: text, "
        r"sentiment\)",
    ):
        _run(source, tmp_path / "out", budget=1.0)


def test_empty_file_is_a_file_error(tmp_path):
    source = _source(tmp_path, [])
    (source / "train.jsonl").write_bytes(b"")
    with pytest.raises(DataValidationError, match=r"train\.jsonl: the file is empty"):
        _run(source, tmp_path / "out", budget=1.0)


def test_missing_split_is_named(tmp_path):
    source = _source(tmp_path, _jsonl(GOOD))
    (source / "test.jsonl").unlink()
    with pytest.raises(DataValidationError, match=r"missing split\(s\) test \(splits found: train\)"):
        _run(source, tmp_path / "out")


def test_good_data_is_normalised_and_described(raw_data_dir, tmp_path):
    stats = preprocess(
        PreprocessConfig(source=str(raw_data_dir), required_splits=("train", "test")), tmp_path
    )
    assert stats["splits"] == ["test", "train", "validation"]
    assert stats["train_rows"] == 90 and stats["bad_rows"] == 0
    assert stats["train_label_counts"] == {"negative": 30, "neutral": 30, "positive": 30}
    train = load_split(tmp_path, "train")
    assert not any("http" in t or "@someone" in t for t in train.texts)
    assert any("@user" in t for t in train.texts)
    # Same input, same fingerprint: the registry uses it to tell which data a model saw.
    again = preprocess(PreprocessConfig(source=str(raw_data_dir)), tmp_path / "again")
    assert again["fingerprint"] == stats["fingerprint"]


def test_labels_may_be_names_or_ids_in_csv_and_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path / "mixed"
    root.mkdir()
    (root / "train.csv").write_text("text,label\nlove it,positive\nhate it,0\nit is tuesday,Neutral\n")
    pq.write_table(pa.table({"text": ["so good", "so bad"], "label": [2, 0]}), root / "test-00000.parquet")
    stats = preprocess(
        PreprocessConfig(source=str(root), required_splits=("train", "test")), tmp_path / "out"
    )
    assert load_split(tmp_path / "out", "train").labels == [2, 0, 1]
    assert stats["test_rows"] == 2


def test_duplicates_and_leakage_are_quarantined(tmp_path):
    root = tmp_path / "dups"
    write_jsonl(
        root / "train.jsonl",
        [
            {"text": "same words", "label": 1},
            {"text": "same  words", "label": 2},
            {"text": "in test too", "label": 0},
            {"text": "unique", "label": 2},
        ],
    )
    write_jsonl(root / "test.jsonl", [{"text": "in test too", "label": 0}])
    stats = preprocess(
        PreprocessConfig(source=str(root), required_splits=("train", "test"), max_bad_fraction=0.5),
        tmp_path / "out",
    )
    problems = [
        json.loads(x)["problem"] for x in (tmp_path / "out" / "quarantine.jsonl").read_text().splitlines()
    ]
    assert any("duplicate of" in p and "different label" in p for p in problems)
    assert any("leakage" in p for p in problems)
    assert stats["train_rows"] == 2


def test_split_files_are_recognised_by_name(tmp_path):
    root = tmp_path / "names"
    write_jsonl(root / "train-00000-of-00002.jsonl", make_tweets(6, seed=5))
    write_jsonl(root / "train-00001-of-00002.jsonl", make_tweets(6, seed=6))
    write_jsonl(root / "val.jsonl", make_tweets(3, seed=7))
    (root / "README.md").write_text("not data")
    stats = preprocess(
        PreprocessConfig(source=str(root), required_splits=("train", "validation")), tmp_path / "o"
    )
    assert stats["train_rows"] == 12 and stats["validation_rows"] == 3


def test_single_file_source_and_unnamed_file(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", make_tweets(6, seed=8))
    assert (
        preprocess(PreprocessConfig(source=str(tmp_path / "train.jsonl")), tmp_path / "o")["train_rows"] == 6
    )
    write_jsonl(tmp_path / "tweets.jsonl", make_tweets(6, seed=8))
    with pytest.raises(DataValidationError, match="cannot tell which split"):
        preprocess(PreprocessConfig(source=str(tmp_path / "tweets.jsonl")), tmp_path / "o2")


def test_missing_local_path_and_unreachable_hub_are_clear(tmp_path, monkeypatch):
    with pytest.raises(DataSourceError, match="no such file or directory"):
        preprocess(PreprocessConfig(source=str(tmp_path / "nope")), tmp_path / "o")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(DataSourceError, match=r"cannot load dataset 'cardiffnlp/tweet_eval'.*Offline\?"):
        preprocess(PreprocessConfig(source="cardiffnlp/tweet_eval"), tmp_path / "o")


def test_config_is_validated():
    with pytest.raises(ConfigError, match="max_bad_fraction"):
        PreprocessConfig(max_bad_fraction=2)
    with pytest.raises(ConfigError, match="unknown split"):
        PreprocessConfig(required_splits=("train", "dev"))


def test_sample_dataset_is_valid_and_balanced(tmp_path):
    stats = preprocess(
        PreprocessConfig(
            source="sample", required_splits=("train", "validation", "test"), max_bad_fraction=0.0
        ),
        tmp_path,
    )
    assert stats["bad_rows"] == 0
    assert stats["train_label_counts"] == {"negative": 110, "neutral": 110, "positive": 110}
    assert stats["test_rows"] == 90 and stats["validation_rows"] == 90
