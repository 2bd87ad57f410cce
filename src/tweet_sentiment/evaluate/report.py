"""The evaluation report as one self-contained HTML page (KFP shows it as an ``HTML`` artifact).

Figures are matplotlib PNGs embedded as base64, so the page needs no network and no files
next to it. Every piece of text that comes from data (tweets, paths, reasons) is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from tweet_sentiment.model.metrics import HEADLINE_METRICS

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1200px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th { background: #f3f3f3; } td.text { text-align: left; max-width: 640px; }
.verdict { padding: 10px 14px; border-radius: 6px; font-weight: 600; }
.passed { background: #e3f6e5; color: #185c24; } .failed { background: #fde8e8; color: #8a1c1c; }
.side { display: flex; gap: 24px; flex-wrap: wrap; } .side figure { margin: 0; }
figcaption { text-align: center; font-size: 14px; color: #555; }
.worse { color: #b00020; } .better { color: #1b7f35; }
"""


def _png(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def confusion_matrix_png(matrix: list[list[int]], labels: list[str], title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")  # no display in a pipeline container
    import matplotlib.pyplot as plt
    import numpy as np

    values = np.asarray(matrix)
    figure, axes = plt.subplots(figsize=(4.2, 3.8))
    axes.imshow(values, cmap="Blues")
    axes.set_xticks(range(len(labels)), labels)
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    threshold = values.max() / 2 if values.size else 0
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            colour = "white" if values[i, j] > threshold else "black"
            axes.text(j, i, str(values[i, j]), ha="center", va="center", color=colour)
    return _png(figure)


def per_class_png(reports: dict[str, dict[str, Any]]) -> str:
    """Grouped bars: precision / recall / F1 per class, one bar group per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    figures = ("precision", "recall", "f1")
    first = next(iter(reports.values()))
    labels = list(first["per_class"])
    figure, axes_list = plt.subplots(1, len(figures), figsize=(11, 3.2), sharey=True)
    width = 0.8 / len(reports)
    for axes, figure_name in zip(axes_list, figures, strict=True):
        for k, (model_name, report) in enumerate(reports.items()):
            heights = [report["per_class"][label][figure_name] for label in labels]
            axes.bar(np.arange(len(labels)) + k * width, heights, width, label=model_name)
        axes.set_xticks(np.arange(len(labels)) + width * (len(reports) - 1) / 2, labels)
        axes.set_title(figure_name)
        axes.set_ylim(0, 1)
    axes_list[0].legend(loc="lower left", fontsize=8)
    return _png(figure)


def _img(png_base64: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{png_base64}">'


def render_html_report(result: dict[str, Any]) -> str:
    """``result`` is what :func:`tweet_sentiment.evaluate.run.evaluate` returns."""
    escape = html.escape
    champion = result.get("champion") or {}
    champion_report = champion.get("report")
    champion_name = f"champion (v{champion['version']})" if champion_report else None
    passed = result["gate_passed"]

    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        "<title>tweet-sentiment evaluation</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>tweet-sentiment: evaluation report</h1>",
        f"<p>Scored on the <b>{escape(str(result['split']))}</b> split, {result['examples']} tweets.</p>",
        f"<div class='verdict {'passed' if passed else 'failed'}'>"
        f"gate {'PASSED' if passed else 'FAILED'}</div>",
    ]
    if result["gate_reasons"]:
        parts.append("<ul>" + "".join(f"<li>{escape(r)}</li>" for r in result["gate_reasons"]) + "</ul>")
    if result.get("gate_notes"):
        parts.append("<ul>" + "".join(f"<li>{escape(n)}</li>" for n in result["gate_notes"]) + "</ul>")

    # Metrics table, champion alongside when there is one.
    header = "<tr><th>metric</th><th>candidate</th>"
    if champion_report:
        header += f"<th>{escape(champion_name)}</th><th>difference</th>"
    rows = [header + "</tr>"]
    for name in HEADLINE_METRICS:
        row = f"<tr><th>{name}</th><td>{result[name]:.4f}</td>"
        if champion_report:
            delta = result[name] - champion_report[name]
            css = "worse" if delta < 0 else "better" if delta > 0 else ""
            row += f"<td>{champion_report[name]:.4f}</td><td class='{css}'>{delta:+.4f}</td>"
        rows.append(row + "</tr>")
    parts += ["<h2>Metrics</h2>", "<table>", *rows, "</table>"]

    parts.append(
        "<h2>Per class</h2><table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th>"
        "<th>support</th></tr>"
    )
    for name, figures in result["per_class"].items():
        parts.append(
            f"<tr><th>{escape(name)}</th><td>{figures['precision']:.4f}</td><td>{figures['recall']:.4f}</td>"
            f"<td>{figures['f1']:.4f}</td><td>{figures['support']}</td></tr>"
        )
    parts.append("</table>")
    reports = {"candidate": result}
    if champion_report:
        reports[champion_name] = champion_report
    parts.append(_img(per_class_png(reports), "per-class precision, recall and F1"))

    parts.append("<h2>Confusion matrix</h2><div class='side'>")
    for model_name, report in reports.items():
        png = confusion_matrix_png(report["confusion_matrix"], report["labels"], model_name)
        parts.append(
            f"<figure>{_img(png, f'confusion matrix of the {model_name}')}"
            f"<figcaption>{escape(model_name)} (rows: true, columns: predicted)</figcaption></figure>"
        )
    parts.append("</div>")

    samples = result.get("misclassified") or []
    parts.append(f"<h2>Misclassified tweets ({len(samples)} most confident mistakes shown)</h2>")
    if samples:
        parts.append("<table><tr><th>tweet</th><th>true</th><th>predicted</th><th>confidence</th></tr>")
        for sample in samples:
            parts.append(
                f"<tr><td class='text'>{escape(sample['text'])}</td><td>{escape(sample['label'])}</td>"
                f"<td>{escape(sample['predicted'])}</td><td>{sample['confidence']:.3f}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
