"""The model card (``model/README.md``) written into every registry version, from the version's metadata.

It sits inside the model folder, so the folder is what the Hugging Face Hub would publish as is
(``models export``; ``upload_folder``): its front matter, rendered by ``huggingface_hub``'s
``ModelCardData``, carries ``license``, ``base_model`` and ``datasets`` (when they are Hub ids),
``pipeline_tag`` and a ``model-index`` whose results are the registry's own evaluation figures.
"""

from __future__ import annotations

from typing import Any

from tweet_sentiment.core.labels import LABELS
from tweet_sentiment.core.storage import is_hub_id
from tweet_sentiment.model.loading import OFFLINE_MODEL, OFFLINE_MODEL_HUB_ID
from tweet_sentiment.model.metrics import HEADLINE_METRICS

# The fine-tuned weights are published under the project's license (pyproject.toml); the encoders
# it starts from by default (all-MiniLM-L6-v2, distilbert-base-uncased) are Apache-2.0 too.
LICENSE = "apache-2.0"
MODEL_NAME = "tweet-sentiment"
TAGS = ["sentiment-analysis", "tweets", "tweet-sentiment"]
# How each headline figure is named in a model-index (type as in the Hub's metric ids).
INDEX_METRICS = {
    "accuracy": ("accuracy", "Accuracy", None),
    "macro_recall": ("recall", "Macro recall", {"average": "macro"}),
    "macro_precision": ("precision", "Macro precision", {"average": "macro"}),
    "macro_f1": ("f1", "Macro F1", {"average": "macro"}),
}


def _figure(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def hub_base_model(record: dict[str, Any]) -> str | None:
    """The Hub id the version was fine-tuned from, when there is one (not a path or bucket)."""
    parameters = record.get("parameters") or {}
    source = parameters.get("param_model_name") or parameters.get("model_name") or ""
    if source == OFFLINE_MODEL:
        return OFFLINE_MODEL_HUB_ID
    return source if source and is_hub_id(source) else None


def card_data(record: dict[str, Any]):
    """The front matter as ``huggingface_hub.ModelCardData`` (model-index from the version's metrics)."""
    from huggingface_hub import EvalResult, ModelCardData

    metrics = record.get("metrics") or {}
    source = (record.get("dataset") or {}).get("source") or ""
    hub_dataset = source if source and is_hub_id(source) else None
    results = [
        EvalResult(
            task_type="text-classification",
            task_name="Sentiment analysis",
            dataset_type=hub_dataset or "tweets",
            dataset_name=hub_dataset or source or "tweets",
            dataset_split=str(metrics.get("split") or "test"),
            metric_type=metric_type,
            metric_value=float(metrics[name]),
            metric_name=metric_name,
            metric_args=args,
        )
        for name, (metric_type, metric_name, args) in INDEX_METRICS.items()
        if isinstance(metrics.get(name), (int, float))
    ]
    return ModelCardData(
        license=LICENSE,
        language="en",
        library_name="transformers",
        pipeline_tag="text-classification",
        tags=TAGS,
        base_model=hub_base_model(record),
        datasets=[hub_dataset] if hub_dataset else None,
        model_name=MODEL_NAME,
        eval_results=results or None,
    )


def render_model_card(record: dict[str, Any]) -> str:
    metrics = record.get("metrics") or {}
    parameters = record.get("parameters") or {}
    gate = record.get("gate") or {}
    dataset = record.get("dataset") or {}
    base_model = parameters.get("param_model_name") or parameters.get("model_name") or "unknown"
    lines = [
        "---",
        card_data(record).to_yaml(),
        "---",
        "",
        f"# tweet-sentiment, version {record.get('version')}",
        "",
        f"Fine-tuned from `{base_model}` to classify English tweets as "
        + "/".join(LABELS)
        + f". Registered {record.get('created_at', '')} by pipeline run `{record.get('run_id') or 'n/a'}`.",
        "",
        "## Intended use",
        "",
        "Sentiment of short English social-media posts (tweets), for aggregate monitoring and triage. "
        'Load with `transformers.pipeline("text-classification", model=<this folder>)` and pass raw '
        "tweets: the tokenizer applies the TweetEval normalisation (mentions to `@user`, URLs dropped, "
        "literal `\\uXXXX` escapes decoded) itself. Labels are "
        + ", ".join(f"`{name}`" for name in LABELS)
        + ". Not for decisions about individual people, not for other languages or long documents.",
        "",
        "## Data",
        "",
        f"- dataset fingerprint: `{record.get('dataset_fingerprint', 'unknown')}`",
    ]
    if dataset.get("source"):
        lines.append(f"- source: `{dataset['source']}`")
    for split in ("train", "validation", "test"):
        if f"{split}_rows" in dataset:
            counts = dataset.get(f"{split}_label_counts", {})
            spread = ", ".join(f"{name} {count}" for name, count in counts.items())
            lines.append(f"- {split}: {dataset[f'{split}_rows']} tweets ({spread})")
    lines += ["", "## Metrics", ""]
    evaluated_on = metrics.get("split", "the evaluation split")
    lines.append(f"Scored on {evaluated_on} ({metrics.get('examples', '?')} tweets).")
    lines += ["", "| metric | value |", "|---|---|"]
    for name in HEADLINE_METRICS:
        if name in metrics:
            lines.append(f"| {name} | {_figure(metrics[name])} |")
    per_class = metrics.get("per_class") or {}
    if per_class:
        lines += ["", "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        for name, figures in per_class.items():
            lines.append(
                f"| {name} | {figures['precision']:.4f} | {figures['recall']:.4f} | "
                f"{figures['f1']:.4f} | {figures['support']} |"
            )
    lines += ["", "## Gate", ""]
    lines.append(f"- passed: {gate.get('passed', 'unknown')}")
    parent = record.get("parent_champion")
    lines.append(f"- compared with champion: {'version ' + str(parent) if parent else 'none (first model)'}")
    for note in gate.get("notes", []):
        lines.append(f"- {note}")
    for reason in gate.get("reasons", []):
        lines.append(f"- failed: {reason}")
    lines += [
        "",
        "## Limitations",
        "",
        "- Trained on tweets; sarcasm, irony, code-switching and very recent slang are frequent errors.",
        "- Neutral vs. mildly positive/negative is the most ambiguous boundary; see the per-class recall.",
        "- Metrics come from one held-out split of the training distribution; check them on your own data "
        "before relying on them, and watch for drift.",
        "- May reproduce biases present in the training tweets.",
        "",
    ]
    return "\n".join(lines)
