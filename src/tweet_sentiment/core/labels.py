"""The label set, in TweetEval's order (0 = negative, 1 = neutral, 2 = positive)."""

LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
ID2LABEL: dict[int, str] = dict(enumerate(LABELS))
LABEL2ID: dict[str, int] = {name: i for i, name in ID2LABEL.items()}
