"""``rag eval piaf`` on a tiny PIAF-shaped data folder with the hashing embedder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from eval import piaf as piaf_module
from eval.cli import eval_app

PASSAGES = {
    "c1": ("Rouen", "La ville de Rouen est la préfecture de la Seine-Maritime. Elle compte environ 110 000 habitants."),
    "c2": ("Lille", "Lille est la capitale des Flandres françaises. Martine Aubry en fut la maire de 2001 à 2025."),
    "c3": ("Brest", "Brest est un port militaire du Finistère. Le pont de Recouvrance y enjambe la Penfeld."),
}
QUERIES = [
    ("q1", "Combien d'habitants compte Rouen ?", ["110 000 habitants"], "c1"),
    ("q2", "Qui fut la maire de Lille ?", ["Martine Aubry"], "c2"),
    ("q3", "Quel pont enjambe la Penfeld à Brest ?", ["le pont de Recouvrance"], "c3"),
]


def _data(root: Path) -> Path:
    root.mkdir()
    with (root / "corpus.jsonl").open("w", encoding="utf-8") as out:
        for pid, (title, text) in PASSAGES.items():
            out.write(json.dumps({"_id": pid, "title": title, "text": text}, ensure_ascii=False) + "\n")
    with (root / "queries_ci300.jsonl").open("w", encoding="utf-8") as out:
        for qid, text, answers, _ in QUERIES:
            out.write(json.dumps({"_id": qid, "text": text, "answers": answers}, ensure_ascii=False) + "\n")
    lines = ["query-id\tcorpus-id\tscore", *(f"{qid}\t{pid}\t1" for qid, _, _, pid in QUERIES)]
    (root / "qrels.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_piaf_command_writes_retrieval_and_answer_figures(tmp_path: Path) -> None:
    data, out = _data(tmp_path / "piaf"), tmp_path / "reports"
    args = ["piaf", "--data", str(data), "--embedder", "hashing", "--index", str(tmp_path / "index")]
    result = CliRunner().invoke(eval_app, [*args, "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "built PIAF index" in result.output
    report = json.loads((out / "piaf.json").read_text(encoding="utf-8"))
    assert report["questions"] == 3 and report["passages"] == 3
    assert set(report["retrieval"]) == {"lexical", "dense", "hybrid"}
    assert report["retrieval"]["lexical"]["r@10"] == 1.0  # three passages: every one is in the top 10
    assert report["retrieval"]["lexical"]["mrr@10"] > 0.5
    answers = report["answers"]
    assert 0 <= answers["containment"] <= 1 and 0 <= answers["f1"] <= 1 and 0 <= answers["em"] <= answers["f1"]
    assert report["published_mteb"]["status"]
    markdown = (out / "piaf.md").read_text(encoding="utf-8")
    assert "| lexical |" in markdown and "containment" in markdown
    # the second run reuses the index
    again = CliRunner().invoke(eval_app, [*args, "--out", str(out), "--no-progress"])
    assert again.exit_code == 0 and "built PIAF index" not in again.output


def test_piaf_command_refuses_a_missing_corpus(tmp_path: Path) -> None:
    result = CliRunner().invoke(eval_app, ["piaf", "--data", str(tmp_path)])
    assert result.exit_code == 1 and "no PIAF corpus" in result.output


def test_piaf_gate_passes_on_itself_and_fails_on_a_worse_baseline(tmp_path: Path) -> None:
    data, out = _data(tmp_path / "piaf"), tmp_path / "reports"
    args = ["piaf", "--data", str(data), "--embedder", "hashing", "--index", str(tmp_path / "index"), "--no-progress"]
    first = CliRunner().invoke(eval_app, [*args, "--out", str(out)])
    assert first.exit_code == 0, first.output
    baseline = json.loads((out / "piaf.json").read_text(encoding="utf-8"))
    (tmp_path / "same.json").write_text(json.dumps(baseline), encoding="utf-8")
    same = CliRunner().invoke(
        eval_app, [*args, "--out", str(out), "--name", "again", "--compare", str(tmp_path / "same.json")]
    )
    assert same.exit_code == 0 and "gate: passed" in same.output, same.output
    # A baseline that was better than anything this run can reach: the gate must fail and say where.
    better = {**baseline, "retrieval": {m: {**v, "mrr@10": 2.0} for m, v in baseline["retrieval"].items()}}
    better["answers"] = {**baseline["answers"], "containment": 2.0}
    (tmp_path / "better.json").write_text(json.dumps(better), encoding="utf-8")
    worse = CliRunner().invoke(
        eval_app, [*args, "--out", str(out), "--name", "w", "--compare", str(tmp_path / "better.json")]
    )
    assert worse.exit_code == 1 and "REGRESSION answers containment" in worse.output
    assert "REGRESSION hybrid mrr@10" in worse.output and "gate: FAILED" in worse.output
    other = {**baseline, "embedder": "e5"}
    (tmp_path / "other.json").write_text(json.dumps(other), encoding="utf-8")
    mismatch = CliRunner().invoke(
        eval_app, [*args, "--out", str(out), "--name", "m", "--compare", str(tmp_path / "other.json")]
    )
    assert mismatch.exit_code == 1 and "embedder differs" in mismatch.output


def test_piaf_time_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _data(tmp_path / "piaf")
    args = ["piaf", "--data", str(data), "--embedder", "hashing", "--index", str(tmp_path / "index"), "--no-progress"]
    fast = CliRunner().invoke(eval_app, [*args, "--out", str(tmp_path / "r"), "--max-seconds", "1000"])
    assert fast.exit_code == 0 and "gate: FAILED" not in fast.output
    real_run = piaf_module.run_piaf

    def slow_run(**kwargs: Any) -> dict[str, Any]:
        report = real_run(**kwargs)
        report["seconds"]["total"] = 1200.0
        return report

    monkeypatch.setattr(piaf_module, "run_piaf", slow_run)
    slow = CliRunner().invoke(eval_app, [*args, "--out", str(tmp_path / "r"), "--max-seconds", "600"])
    assert slow.exit_code == 1 and "took 1200s (budget 600s)" in slow.output


def test_the_piaf_gate_refuses_a_report_of_another_reader() -> None:
    from eval.piaf import compare_piaf

    def report(reader: str | None, f1: float) -> dict[str, object]:
        answers: dict[str, object] = {"containment": 0.6, "f1": f1, "em": 0.3}
        if reader is not None:
            answers["reader"] = reader
        return {"sample": "ci300", "embedder": "e5", "retrieval": {}, "answers": answers}

    assert compare_piaf(report("none", 0.5), report(None, 0.5), 0.02) == []  # an older baseline: sentences
    assert compare_piaf(report("e5-piaf", 0.5), report("none", 0.5), 0.02) == [
        "reader differs: 'e5-piaf' vs baseline 'none'"
    ]
    assert compare_piaf(report("none", 0.4), report("none", 0.5), 0.02) == ["answers f1: 0.500 -> 0.400"]
