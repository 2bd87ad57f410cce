"""The check's decision as Markdown: the verdict first, then each measure against its threshold."""

from __future__ import annotations

from typing import Any


def _figure(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"


def render_markdown(record: dict[str, Any]) -> str:
    """Markdown for the decision artifact (KFP and Vertex render it in the run's UI)."""
    lines = [
        f"# Retrain check: {record['decision']}",
        "",
        f"**{record['summary']}**",
        "",
        f"- policy: `{record['policy']}`",
        f"- snapshot: `{record['snapshot']}` (fingerprint `{record['fingerprint'][:12]}`)",
        f"- checked at: {record['checked_at']}",
    ]
    if record["champion"] is not None:
        lines.append(f"- champion: version {record['champion']}, {record['champion_age_days']} days old")
    lines += [f"- note: {note}" for note in record["notes"]]
    if record["measures"]:
        lines += ["", "| measure | value | threshold | reached | method |", "| --- | --- | --- | --- | --- |"]
        for m in record["measures"]:
            reached = "**yes**" if m["crossed"] else "no"
            lines.append(
                f"| {m['name']} | {m['value']:.4f} | {m['threshold']:.4f} | {reached} | {m['method']} |"
            )
    today, then = record["champion_today"], record["champion_at_registration"] or {}
    if today:
        lines += [
            "",
            f"Champion on today's `{record['eval_split']}` split:",
            "",
            "| figure | at registration | today |",
            "| --- | --- | --- |",
        ]
        lines += [
            f"| {name} | {_figure(then.get(name))} | {_figure(value)} |" for name, value in today.items()
        ]
    return "\n".join(lines) + "\n"
