"""Writing evaluation reports: JSON (everything), Markdown (tables) and PNG charts (matplotlib, Agg backend)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.suite import LATENCY_STAGES, RETRIEVAL_METRICS

TABLE_METRICS = (
    *RETRIEVAL_METRICS,
    "answer_accuracy",
    "f1",
    "em",
    "citation_precision",
    "citation_exactness",
    "abstention_precision",
    "abstention_recall",
    "median_answer_chars",
)
"""The columns of the main table (terminal and Markdown)."""
SHORT = {
    "answer_accuracy": "acc",
    "overall_accuracy": "acc_all",
    "citation_precision": "cit_prec",
    "citation_exactness": "cit_exact",
    "abstention_precision": "abst_P",
    "abstention_recall": "abst_R",
    "median_answer_chars": "med_chars",
    "wrong_refusals": "refusals",
}
TYPE_METRICS = ("questions", "r@5", "mrr@10", "answer_accuracy", "overall_accuracy", "f1", "abstention_recall")


def fmt(value: Any) -> str:
    """A table cell: ratios with three decimals, ``–`` for undefined."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.0f}"
    return str(value)


def ms(value: float | None) -> str:
    """A latency cell in milliseconds, one decimal."""
    return "–" if value is None else f"{value:.1f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An aligned plain-text table for the terminal."""
    cells = [list(header), *[[fmt(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = (
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in cells
    )
    return "\n".join(lines)


def main_rows(report: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the main table: one row per configuration."""
    header = ["configuration", *(SHORT.get(m, m) for m in TABLE_METRICS), "p50 ms", "p95 ms"]
    rows = []
    for block in report["configurations"]:
        agg = block["aggregate"]
        total = agg["latency_ms"].get("total", {})
        rows.append([block["key"], *(agg.get(m) for m in TABLE_METRICS), ms(total.get("p50")), ms(total.get("p95"))])
    return header, rows


def summary_table(report: dict[str, Any]) -> str:
    """The main metrics of every configuration, for the terminal."""
    return text_table(*main_rows(report))


def to_markdown(report: dict[str, Any], charts: Sequence[str] = ()) -> str:
    """The Markdown report: main table, latency, per type, misses, charts."""
    out = [
        f"# Gold evaluation — {report['name']}",
        "",
        f"{report['configurations'][0]['aggregate']['questions'] if report['configurations'] else 0} questions "
        f"(`eval/gold.jsonl`), target {report['target']}, retrieval top {report['settings']['retrieval_k']} chunks "
        f"(a chunk finds an evidence span when it covers at least half of it), answers from the top "
        f"{report['settings']['answer_k']} passages; {report['wall_seconds']:.0f} s in all, {report['created_at']}.",
        "",
        "## Metrics per configuration",
        "",
        markdown_table(*main_rows(report)),
        "",
        "`acc`: answerable questions whose answer contains the reference (every `answers_all` string, else one of "
        "`answers`); `f1`/`em`: SQuAD token F1 / exact match of the shortest answer span (abstention = 0); "
        "`cit_prec`: citations overlapping an evidence span; `cit_exact`: quotes equal to `text[start:end]`; "
        "`abst_P`/`abst_R`: abstention precision/recall against unanswerable questions.",
        "",
        "## Latency (ms)",
        "",
    ]
    header = ["configuration", *(f"{s} {q}" for s in LATENCY_STAGES for q in ("p50", "p95"))]
    rows = []
    for block in report["configurations"]:
        lat = block["aggregate"]["latency_ms"]
        rows.append([block["key"], *(ms(lat.get(s, {}).get(q)) for s in LATENCY_STAGES for q in ("p50", "p95"))])
    out += [markdown_table(header, rows), ""]
    for block in report["configurations"]:
        out += [f"## Per question type — {block['key']}", ""]
        rows = [[t, *(agg.get(m) for m in TYPE_METRICS)] for t, agg in block["by_type"].items()]
        out += [markdown_table(["type", *(SHORT.get(m, m) for m in TYPE_METRICS)], rows), ""]
        misses = [q for q in block["questions"] if not q["correct"]]
        if misses:
            out += [f"Misses ({len(misses)}):", ""]
            for q in misses:
                answer = " ".join(q["answer"].split())[:140] or "(no answer)"
                out.append(f"- `{q['id']}` [{q['type']}] {q['question']} → {answer}")
            out.append("")
    if charts:
        out += ["## Charts", ""] + [f"![{Path(c).stem}]({Path(c).name})" for c in charts] + [""]
    return "\n".join(out)


def write_charts(report: dict[str, Any], out: Path, name: str) -> list[Path]:
    """Three PNG charts: metrics per configuration, share correct and R@5 per question type, and the
    total-latency distribution per configuration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    blocks = report["configurations"]
    paths: list[Path] = []
    metrics = ("ndcg@10", "r@5", "mrr@10", "answer_accuracy", "f1", "citation_precision", "abstention_recall")
    width = 0.8 / max(1, len(blocks))
    fig, ax = plt.subplots(figsize=(11, 4.5))
    for i, block in enumerate(blocks):
        values = [block["aggregate"].get(m) or 0.0 for m in metrics]
        ax.bar([x + i * width for x in range(len(metrics))], values, width, label=block["key"])
    ax.set_xticks([x + width * (len(blocks) - 1) / 2 for x in range(len(metrics))], [SHORT.get(m, m) for m in metrics])
    ax.set_ylim(0, 1.05)
    ax.set_title("Gold metrics per configuration")
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / f"{name}-metrics.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    types = sorted({t for b in blocks for t in b["by_type"]})
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
    titles = {"overall_accuracy": "correct (answer, or abstention when unanswerable)", "r@5": "R@5"}
    for ax, metric in zip(axes, titles, strict=True):
        for i, block in enumerate(blocks):
            values = [(block["by_type"].get(t, {}).get(metric) or 0.0) for t in types]
            ax.barh([y + i * width for y in range(len(types))], values, width, label=block["key"])
        ax.set_yticks([y + width * (len(blocks) - 1) / 2 for y in range(len(types))], types, fontsize=8)
        ax.set_xlim(0, 1.05)
        ax.set_title(f"{titles[metric]} per question type", fontsize=10)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    paths.append(out / f"{name}-types.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(10, 4.5))
    data = [[q["latency_ms"]["total"] for q in b["questions"] if "total" in q["latency_ms"]] for b in blocks]
    ax.boxplot(data, orientation="horizontal")
    ax.set_yticks(range(1, len(blocks) + 1), [b["key"] for b in blocks], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("total latency per question (ms, log scale)")
    ax.set_title("Latency distribution")
    fig.tight_layout()
    paths.append(out / f"{name}-latency.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths


def write_report(report: dict[str, Any], out: Path, name: str, *, charts: bool = True) -> dict[str, Path]:
    """Write ``<name>.json``, ``<name>.md`` and the charts under ``out``; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / f"{name}.json", "md": out / f"{name}.md"}
    pngs = write_charts(report, out, name) if charts and report["configurations"] else []
    paths["json"].write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["md"].write_text(to_markdown(report, [str(p) for p in pngs]), encoding="utf-8")
    for i, png in enumerate(pngs):
        paths[f"png{i}"] = png
    return paths
