"""``rag eval piaf`` on a tiny PIAF-shaped data folder with the hashing embedder."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

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
