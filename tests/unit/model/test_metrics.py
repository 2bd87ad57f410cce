import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tweet_sentiment.model.metrics import METRIC_SCRIPT, accuracy, classification_report


def test_report_figures_match_hand_computation():
    report = classification_report([0, 0, 1, 2, 2], [0, 1, 1, 2, 0])
    assert report["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]  # rows: true labels
    assert report["accuracy"] == pytest.approx(3 / 5)
    # recalls: negative 1/2, neutral 1/1, positive 1/2
    assert report["macro_recall"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    # precisions: negative 1/2, neutral 1/2, positive 1/1
    assert report["per_class"]["neutral"]["precision"] == pytest.approx(0.5)
    assert report["macro_precision"] == pytest.approx((0.5 + 0.5 + 1) / 3)
    f1_negative = 2 * 0.5 * 0.5 / (0.5 + 0.5)
    f1_neutral = 2 * 0.5 * 1 / 1.5
    f1_positive = 2 * 1 * 0.5 / 1.5
    assert report["per_class"]["neutral"]["f1"] == pytest.approx(f1_neutral)
    assert report["macro_f1"] == pytest.approx((f1_negative + f1_neutral + f1_positive) / 3)
    assert report["per_class"]["positive"]["support"] == 2
    assert report["examples"] == 5
    assert report["labels"] == ["negative", "neutral", "positive"]
    assert accuracy([0, 0, 1, 2, 2], [0, 1, 1, 2, 0]) == pytest.approx(3 / 5)


def test_a_class_absent_from_the_references_is_kept_out_of_the_macro_averages():
    # neutral (1) never occurs in the references but is predicted once.
    report = classification_report([0, 0, 2, 2], [0, 1, 2, 2])
    # recalls of the present classes: negative 1/2, positive 2/2
    assert report["macro_recall"] == pytest.approx((0.5 + 1.0) / 2)
    # precisions of the present classes: negative 1/1, positive 2/2
    assert report["macro_precision"] == pytest.approx(1.0)
    assert report["macro_f1"] == pytest.approx((2 * 1 * 0.5 / 1.5 + 1.0) / 2)
    # ...but it keeps its row and column, with 0 for its 0/0 recall and its 0/1 precision.
    assert report["confusion_matrix"] == [[1, 1, 0], [0, 0, 0], [0, 0, 2]]
    assert report["per_class"]["neutral"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_a_class_absent_from_references_and_predictions_keeps_its_row():
    report = classification_report([0, 0, 2], [0, 0, 2])
    assert report["macro_recall"] == pytest.approx(1.0)
    assert report["confusion_matrix"] == [[2, 0, 0], [0, 0, 0], [0, 0, 1]]


def test_bad_input_is_an_error():
    with pytest.raises(ValueError, match="2 labels but 1 predictions"):
        classification_report([0, 1], [0])
    with pytest.raises(ValueError, match="no examples"):
        classification_report([], [])
    with pytest.raises(ValueError, match=r"class ids \[3\] are outside 0..2"):
        classification_report([0, 1], [0, 3])


_OFFLINE_LOAD = """
import json, socket
def refuse(*args, **kwargs):
    raise OSError("network access attempted")
socket.socket.connect = refuse
socket.create_connection = refuse
from tweet_sentiment.model.metrics import classification_report, metric_cache_dirs
report = classification_report([0, 1, 2, 2], [0, 1, 1, 2])
print(json.dumps({"report": report, "modules": str(metric_cache_dirs()[0])}))
"""


def test_loads_offline_where_hf_home_cannot_be_written(tmp_path):
    """The images' non-root user may not write HF_HOME or the installed package; nothing may be downloaded.

    Root writes anywhere, so HF_HOME here lies inside a regular file: no one can create it.
    """
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    home, scratch = blocker / "huggingface", tmp_path / "tmp"
    scratch.mkdir()
    package_files = sorted(p.name for p in METRIC_SCRIPT.parent.iterdir())
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": os.pathsep.join(sys.path),
        "HF_HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TMPDIR": str(scratch),
    }
    done = subprocess.run(
        [sys.executable, "-c", _OFFLINE_LOAD], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["report"]["accuracy"] == pytest.approx(0.75)
    assert result["report"]["macro_recall"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert Path(result["modules"]).is_relative_to(scratch)
    assert any(Path(result["modules"]).rglob("sentiment_classification.py"))
    assert sorted(p.name for p in METRIC_SCRIPT.parent.iterdir()) == package_files
