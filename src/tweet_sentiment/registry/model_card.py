"""The model card (README.md) written into every registry version, from the version's metadata."""

from __future__ import annotations

from typing import Any

from tweet_sentiment.core.labels import LABELS
from tweet_sentiment.model.metrics import HEADLINE_METRICS


def _figure(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def render_model_card(record: dict[str, Any]) -> str:
    metrics = record.get("metrics") or {}
    parameters = record.get("parameters") or {}
    gate = record.get("gate") or {}
    dataset = record.get("dataset") or {}
    base_model = parameters.get("param_model_name") or parameters.get("model_name") or "unknown"
    lines = [
        "---",
        "pipeline_tag: text-classification",
        "language: en",
        "library_name: transformers",
        "tags: [sentiment-analysis, tweets, tweet-sentiment]",
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
        'Load with `transformers.pipeline("text-classification", model=<this version>/model)`; labels are '
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
