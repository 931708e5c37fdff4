"""``rag eval``: the gold suite (default), its comparison with a baseline, and the PIAF benchmark.

Mounted in ``rag/cli.py`` with ``app.add_typer(eval_app, name="eval")``; also runnable on its own with
``python -m eval.cli``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from eval.compare import DEFAULT_TOLERANCE, compare, load
from eval.suite import GOLD, REPORTS, SEEDS

eval_app = typer.Typer(
    help="Evaluate retrieval and answers: the gold set (default), comparisons, PIAF.",
    invoke_without_command=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _gate(current: dict[str, Any], baseline_path: Path, tolerance: float) -> bool:
    """Print the comparison with a baseline; whether the gate passed."""
    result = compare(current, load(baseline_path), tolerance)
    for line in result.lines():
        typer.echo(line)
    return result.ok


@eval_app.callback()
def gold(
    ctx: typer.Context,
    method: Annotated[str, typer.Option("--method", help="Comma-separated: hybrid, dense, lexical.")] = "hybrid",
    mode: Annotated[str, typer.Option("--mode", help="Comma-separated: extractive, generative.")] = "extractive",
    embedder: Annotated[
        str, typer.Option("--embedder", help="Comma-separated embedders (in process): e5, hashing…")
    ] = "e5",
    url: Annotated[
        str | None, typer.Option("--url", help="Evaluate a running server (http://127.0.0.1:PORT) instead.")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="Report name: <out>/<name>.json|.md|-*.png.")] = "latest",
    out: Annotated[Path, typer.Option("--out", help="Report folder.")] = REPORTS,
    compare_to: Annotated[
        Path | None, typer.Option("--compare", help="Baseline report: print flips, fail on aggregate drops.")
    ] = None,
    tolerance: Annotated[float, typer.Option("--tolerance", min=0.0, help="Allowed drop per metric.")] = (
        DEFAULT_TOLERANCE
    ),
    gold_path: Annotated[Path, typer.Option("--gold", help="Gold questions (JSONL).")] = GOLD,
    seeds: Annotated[Path, typer.Option("--seeds", help="The corpus the gold set refers to.")] = SEEDS,
    charts: Annotated[bool, typer.Option("--charts/--no-charts", help="Write PNG charts.")] = True,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr.")] = True,
) -> None:
    """Run the gold set (eval/gold.jsonl) for each configuration and write JSON, Markdown and PNG reports."""
    if ctx.invoked_subcommand is not None:
        return
    from eval.report import summary_table, write_report
    from eval.suite import configurations, run_suite
    from rag.errors import RagError
    from rag.threads import limit_threads

    methods, modes, embedders = _split(method), _split(mode), _split(embedder)
    try:
        configurations(embedders, methods, modes)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    if compare_to is not None and not compare_to.is_file():
        typer.echo(f"error: no baseline report at {compare_to}", err=True)
        raise typer.Exit(code=1)
    limit_threads()
    try:
        result = run_suite(
            name,
            embedders=embedders,
            methods=methods,
            modes=modes,
            url=url,
            gold=gold_path,
            seeds=seeds,
            progress=progress,
        )
    except RagError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    report = result.to_json()
    paths = write_report(report, out, name, charts=charts)
    typer.echo(summary_table(report))
    typer.echo(f"wrote {', '.join(str(p) for p in paths.values())} ({result.wall_seconds:.0f}s)")
    if compare_to is not None and not _gate(report, compare_to, tolerance):
        raise typer.Exit(code=1)


@eval_app.command("compare")
def compare_reports(
    current: Annotated[Path, typer.Argument(help="A report written by rag eval.")],
    baseline: Annotated[Path, typer.Argument(help="The baseline report.")],
    tolerance: Annotated[float, typer.Option("--tolerance", min=0.0)] = DEFAULT_TOLERANCE,
) -> None:
    """Compare two existing reports without running anything; exit 1 when a metric drops too far."""
    if not _gate(load(current), baseline, tolerance):
        raise typer.Exit(code=1)


@eval_app.command("piaf")
def piaf(
    full: Annotated[bool, typer.Option("--full", help="All 7,569 questions instead of the 300-question sample.")] = (
        False
    ),
    data: Annotated[Path | None, typer.Option("--data", help="PIAF retrieval folder (corpus, queries, qrels).")] = (
        None
    ),
    embedder: Annotated[str | None, typer.Option("--embedder", help="Embedder (default: RAG_EMBEDDER).")] = None,
    index: Annotated[
        Path | None, typer.Option("--index", help="Index folder (default: data/piaf-index-<embedder>).")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Report folder.")] = REPORTS,
    name: Annotated[str, typer.Option("--name", help="Report name.")] = "piaf",
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    compare_to: Annotated[
        Path | None, typer.Option("--compare", help="Baseline PIAF report: fail when a metric drops.")
    ] = None,
    tolerance: Annotated[float, typer.Option("--tolerance", min=0.0, help="Allowed drop per metric.")] = (
        DEFAULT_TOLERANCE
    ),
    max_seconds: Annotated[
        float | None, typer.Option("--max-seconds", min=1.0, help="Fail when the whole run takes longer.")
    ] = None,
    rerank: Annotated[
        bool,
        typer.Option("--rerank", help="Also score hybrid+rerank (the reader's relevance over the fused top 30)."),
    ] = False,
) -> None:
    """PIAF passage retrieval (lexical, dense, hybrid) and extractive answers; writes <out>/piaf.json and .md.
    With ``--compare`` (and ``--max-seconds``) it is a gate: exit 1 on a drop beyond the tolerance (or a run
    slower than the budget)."""
    import json

    from eval.piaf import compare_piaf, run_piaf, write_piaf
    from eval.piaf_retrieval import DEFAULT_DATA
    from rag.threads import limit_threads

    data = data or DEFAULT_DATA
    if not (data / "corpus.jsonl").is_file():
        typer.echo(f"error: no PIAF corpus at {data / 'corpus.jsonl'}", err=True)
        raise typer.Exit(code=1)
    limit_threads()
    report = run_piaf(data=data, full=full, embedder=embedder, index_dir=index, progress=progress, rerank=rerank)
    json_path, md_path = write_piaf(report, out, name)
    typer.echo(f"PIAF {report['sample']}: {report['questions']} questions, {report['passages']} passages")
    for method, m in report["retrieval"].items():
        typer.echo(
            f"  {method:8} nDCG@10 {m['ndcg@10']:.3f}  R@1 {m['r@1']:.3f}  R@5 {m['r@5']:.3f}  "
            f"R@10 {m['r@10']:.3f}  MRR@10 {m['mrr@10']:.3f}"
        )
    a = report["answers"]
    typer.echo(
        f"  answers  ({a['reader']}) containment {a['containment']:.3f}  span F1 {a.get('span_f1', 0):.3f}  "
        f"span EM {a.get('span_em', 0):.3f}  abstention {a['abstention']:.3f}  median {a['median_chars']} chars  "
        f"p50 {a['p50_ms']:.0f} ms"
    )
    typer.echo(f"wrote {json_path}, {md_path} ({report['seconds']['total']:.0f}s)")
    failed = False
    if compare_to is not None:
        drops = compare_piaf(report, json.loads(compare_to.read_text(encoding="utf-8")), tolerance)
        for line in drops:
            typer.echo(f"  REGRESSION {line}")
        typer.echo(f"gate: {'FAILED' if drops else 'passed'} against {compare_to} (tolerance {tolerance})")
        failed = bool(drops)
    if max_seconds is not None and report["seconds"]["total"] > max_seconds:
        typer.echo(f"gate: FAILED, the run took {report['seconds']['total']:.0f}s (budget {max_seconds:.0f}s)")
        failed = True
    if failed:
        raise typer.Exit(code=1)


def main() -> None:
    """Entry point for ``python -m eval.cli``."""
    eval_app()


if __name__ == "__main__":
    main()
