"""The regression gate: synthetic reports, and a crippled configuration against a real baseline."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import eval.suite as suite
from eval.cli import eval_app
from eval.compare import compare
from eval.suite import run_suite


def _question(qid: str, *, correct: bool, abstained: bool = False, hit: bool = True) -> dict[str, Any]:
    return {
        "id": qid,
        "type": "factual_who",
        "answerable": True,
        "question": f"question {qid}",
        "answer": "x",
        "abstained": abstained,
        "correct": correct,
        "hit@5": hit,
    }


def _report(accuracy: float, questions: list[dict[str, Any]], key: str = "e5/hybrid/extractive") -> dict[str, Any]:
    aggregate = {"r@5": 0.9, "ndcg@10": 0.8, "answer_accuracy": accuracy, "abstention_precision": None}
    aggregate["latency_ms"] = {"total": {"p50": 10.0, "p95": 20.0}}
    return {"configurations": [{"key": key, "aggregate": aggregate, "questions": questions}]}


def test_equal_reports_pass() -> None:
    report = _report(0.8, [_question("q1", correct=True)])
    result = compare(report, copy.deepcopy(report))
    assert result.ok and not result.regressions and not result.improvements


def test_lower_accuracy_fails_and_lists_the_flip() -> None:
    baseline = _report(0.80, [_question("q1", correct=True), _question("q2", correct=False)])
    current = _report(0.75, [_question("q1", correct=False), _question("q2", correct=True)])
    result = compare(current, baseline, tolerance=0.02)
    assert not result.ok
    assert any("answer_accuracy" in d for d in result.drops)
    assert any("q1" in r and "answer" in r for r in result.regressions)
    assert any("q2" in i for i in result.improvements)


def test_drops_within_tolerance_and_latency_do_not_fail() -> None:
    baseline = _report(0.80, [])
    current = _report(0.79, [])
    current["configurations"][0]["aggregate"]["latency_ms"] = {"total": {"p50": 999.0, "p95": 9999.0}}
    assert compare(current, baseline, tolerance=0.02).ok
    assert not compare(current, baseline, tolerance=0.0).ok


def test_abstention_and_retrieval_flips() -> None:
    baseline = _report(0.8, [_question("q1", correct=True, hit=True)])
    current = _report(0.8, [_question("q1", correct=True, abstained=True, hit=False)])
    result = compare(current, baseline)
    assert any("abstention" in r for r in result.regressions)
    assert any("hit@5" in r for r in result.regressions)


def test_nothing_to_compare_fails() -> None:
    baseline = {
        "configurations": [_report(0.8, [], "a")["configurations"][0], _report(0.8, [], "b")["configurations"][0]]
    }
    current = _report(0.8, [], "c")
    result = compare(current, baseline)
    assert result.unmatched == ["c"] and not result.ok


def test_compare_command_exit_codes(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(_report(0.8, [_question("q1", correct=True)])))
    bad.write_text(json.dumps(_report(0.5, [_question("q1", correct=False)])))
    runner = CliRunner()
    assert runner.invoke(eval_app, ["compare", str(good), str(good)]).exit_code == 0
    failed = runner.invoke(eval_app, ["compare", str(bad), str(good)])
    assert failed.exit_code == 1 and "FAILED" in failed.output


CRIPPLED = ["--embedder", "hashing", "--method", "lexical", "--no-charts", "--no-progress"]


@pytest.fixture(scope="module")
def hashing_baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A baseline report of the hashing embedder, hybrid, extractive (the gold set in process)."""
    out = tmp_path_factory.mktemp("baseline")
    report = run_suite("baseline", embedders=["hashing"], progress=False).to_json()
    path = out / "baseline.json"
    path.write_text(json.dumps(report))
    return path


def test_gate_passes_on_the_same_configuration(hashing_baseline: Path, tmp_path: Path) -> None:
    baseline = hashing_baseline
    result = CliRunner().invoke(
        eval_app,
        ["--embedder", "hashing", "--out", str(tmp_path), "--no-charts", "--no-progress", "--compare", str(baseline)],
    )
    assert result.exit_code == 0, result.output
    assert "gate: passed" in result.output


def test_gate_fails_on_a_crippled_configuration(
    hashing_baseline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(suite, "RETRIEVAL_K", 1)
    monkeypatch.setattr(suite, "ANSWER_K", 1)
    result = CliRunner().invoke(
        eval_app,
        [*CRIPPLED, "--out", str(tmp_path), "--compare", str(hashing_baseline)],
    )
    assert result.exit_code == 1, result.output
    assert "gate: FAILED" in result.output
    assert "DROP hashing/lexical/extractive r@5" in result.output
