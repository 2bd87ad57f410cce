import pytest

from tweet_sentiment.metrics import classification_report, confusion_matrix


def test_confusion_matrix_rows_are_true_labels():
    matrix = confusion_matrix([0, 0, 1, 2, 2], [0, 1, 1, 2, 0])
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]


def test_report_figures_match_hand_computation():
    report = classification_report([0, 0, 1, 2, 2], [0, 1, 1, 2, 0])
    assert report["accuracy"] == pytest.approx(3 / 5)
    # recalls: negative 1/2, neutral 1/1, positive 1/2
    assert report["macro_recall"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    # precisions: negative 1/2, neutral 1/2, positive 1/1
    assert report["per_class"]["neutral"]["precision"] == pytest.approx(0.5)
    f1_negative = 2 * 0.5 * 0.5 / (0.5 + 0.5)
    f1_neutral = 2 * 0.5 * 1 / 1.5
    f1_positive = 2 * 1 * 0.5 / 1.5
    assert report["macro_f1"] == pytest.approx((f1_negative + f1_neutral + f1_positive) / 3)
    assert report["per_class"]["positive"]["support"] == 2


def test_absent_class_does_not_zero_the_macro_average():
    report = classification_report([0, 0, 2], [0, 0, 2])
    assert report["macro_recall"] == pytest.approx(1.0)


def test_mismatched_lengths_are_an_error():
    with pytest.raises(ValueError, match="2 labels but 1 predictions"):
        classification_report([0, 1], [0])
