"""The gold suite end to end: in process with the hashing embedder, over HTTP, and (slow) the committed
baseline of the default configuration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from eval.cli import eval_app
from eval.compare import compare
from eval.suite import QUALITY_METRICS, read_gold, run_suite
from rag.corpus_index import CorpusIndex
from rag.settings import Settings

BASELINE = Path(__file__).resolve().parents[1] / "eval" / "reports" / "baseline.json"


def test_in_process_run_writes_json_markdown_and_charts(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    result = CliRunner().invoke(
        eval_app, ["--embedder", "hashing", "--method", "hybrid,lexical", "--out", str(out), "--name", "t"]
    )
    assert result.exit_code == 0, result.output
    assert "hashing/hybrid/extractive" in result.output and "ndcg@10" in result.output
    report = json.loads((out / "t.json").read_text(encoding="utf-8"))
    assert [b["key"] for b in report["configurations"]] == ["hashing/hybrid/extractive", "hashing/lexical/extractive"]
    block = report["configurations"][0]
    agg = block["aggregate"]
    assert agg["questions"] == len(read_gold()) == len(block["questions"])
    for metric in (*QUALITY_METRICS, "median_answer_chars"):
        assert agg[metric] is not None, metric
    assert 0 < agg["r@5"] <= 1 and 0 < agg["answer_accuracy"] <= 1
    assert agg["citation_exactness"] == 1.0
    assert set(agg["latency_ms"]) == {"retrieval", "answer", "total"}
    assert agg["latency_ms"]["total"]["p95"] >= agg["latency_ms"]["total"]["p50"] > 0
    assert "multi_document" in block["by_type"] and "unanswerable_absent" in block["by_type"]
    assert block["by_type"]["unanswerable_absent"]["r@5"] is None
    markdown = (out / "t.md").read_text(encoding="utf-8")
    assert "| hashing/hybrid/extractive |" in markdown and "Per question type" in markdown
    for chart in ("t-metrics.png", "t-types.png", "t-latency.png"):
        assert (out / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_method_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(eval_app, ["--method", "fuzzy", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "unknown method" in result.output


def test_http_target_matches_in_process(
    seeds_index: CorpusIndex, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same index over the public API gives the same quality figures (only ``total`` latency)."""
    monkeypatch.setenv("RAG_READER", settings.reader)  # the in-process run answers as the app does
    in_process = run_suite("a", embedders=["hashing"], progress=False).to_json()
    with TestClient(create_app(settings, seeds_index)) as client:
        over_http = run_suite("b", client=client, progress=False).to_json()
    block = over_http["configurations"][0]
    assert block["key"] == "http/hybrid/extractive"
    assert set(block["aggregate"]["latency_ms"]) == {"total"}
    for metric in QUALITY_METRICS:
        assert block["aggregate"][metric] == pytest.approx(in_process["configurations"][0]["aggregate"][metric])
    assert compare(over_http, in_process, tolerance=0.0).ok


@pytest.mark.slow
def test_default_configuration_matches_the_committed_baseline() -> None:
    baseline = json.loads(BASELINE.read_text(encoding="utf-8"))
    assert [b["key"] for b in baseline["configurations"]] == ["e5/hybrid/extractive"]
    current = run_suite("check", progress=False).to_json()
    result = compare(current, baseline, tolerance=0.02)
    assert result.ok, "\n".join(result.lines())
