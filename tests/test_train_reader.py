"""The distillation pieces of ``scripts/train_reader.py``: the student starts from the teacher's kept layers, and
its loss is smallest when it matches the teacher (masked positions stay finite)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from train_reader import distillation_loss, span_loss, start_from_teacher  # noqa: E402

from rag.reader.model import ReaderConfig, ReaderModel  # noqa: E402


def test_the_student_starts_from_the_teachers_kept_layers(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    torch.manual_seed(0)
    teacher = ReaderModel(ReaderConfig(source_layers=[0, 1, 2]))
    for p in teacher.parameters():
        torch.nn.init.normal_(p)
    weights = tmp_path / "teacher.safetensors"
    save_file({k: v.contiguous() for k, v in teacher.state_dict().items()}, str(weights))
    student = ReaderModel(ReaderConfig(source_layers=[0, 2]))
    start_from_teacher(student, weights, [0, 2])
    for mine, theirs in ((0, 0), (1, 2)):
        got, want = student.layers[mine].qkv.weight, teacher.layers[theirs].qkv.weight  # type: ignore[union-attr]
        assert torch.equal(got, want)
    assert torch.equal(student.span.weight, teacher.span.weight) and torch.equal(student.pos.weight, teacher.pos.weight)


def test_the_distillation_loss_is_least_when_the_student_matches_the_teacher() -> None:
    torch.manual_seed(0)
    masked = torch.finfo(torch.bfloat16).min / 2
    t_start, t_end = torch.randn(4, 32), torch.randn(4, 32)
    t_start[:, 20:] = masked  # padding and question tokens: no answer may start there
    t_end[:, 20:] = masked
    t_rel = torch.randn(4)
    same = distillation_loss(t_rel.clone(), t_start.clone(), t_end.clone(), t_rel, t_start, t_end, 2.0)
    other_start = t_start.clone()
    other_start[:, :20] = torch.randn(4, 20)
    worse = distillation_loss(-t_rel, other_start, t_end.clone(), t_rel, t_start, t_end, 2.0)
    assert torch.isfinite(same) and torch.isfinite(worse) and worse > same


def test_a_swapped_question_names_what_its_passage_never_mentions() -> None:
    import random

    from reader_data import Question, Swapper, fold, question_names

    passage = "Fondée en 1998 par Jean Dupont, la société Acme Industries emploie 300 personnes à Lyon."
    q = Question("q1", "Combien de personnes emploie Acme Industries en 1998 ?", [("300", 59)], passage, "c1", "Acme")
    others = [
        Question("q2", "Où est née Marie Curie ?", [("Varsovie", 0)], "Varsovie.", "c2", "Curie"),
        Question("q3", "Quand la société Globex Corp a-t-elle fermé ?", [("2001", 0)], "2001.", "c3", "Globex"),
        q,
    ]
    assert [q.question[a:b] for a, b in question_names(q.question)] == ["Acme Industries", "1998"]
    assert question_names("Quel est le budget ?") == []  # the question word is never a name
    swapper = Swapper(others)
    rng = random.Random(3)
    seen = set()
    for _ in range(40):
        text = swapper.swap(q, rng)
        assert text is not None and text != q.question
        assert ("Acme Industries" in text) != ("1998" in text)  # exactly one of the two was replaced
        new = [text[a:b] for a, b in question_names(text) if text[a:b] not in ("Acme Industries", "1998")]
        assert new and all(fold(n) not in fold(passage) for n in new)  # the passage never names the new one
        assert "Acme Industries" in text or new[0] in ("Marie Curie", "Globex Corp")  # never from its own article
        seen.add(text)
    assert len(seen) > 3
    lone = Question("q4", "Qui a fondé la société ?", [("Jean Dupont", 20)], passage, "c1", "Acme")
    assert swapper.swap(lone, rng) is None  # no name to swap: no near miss


def test_the_relevant_only_span_loss_ignores_negative_windows() -> None:
    torch.manual_seed(0)
    start, end = torch.randn(3, 16), torch.randn(3, 16)
    ys, ye = torch.tensor([4, 0, 7]), torch.tensor([6, 0, 9])
    relevant = torch.tensor([1.0, 0.0, 1.0])
    everything = span_loss(start, end, ys, ye, None)
    kept = span_loss(start, end, ys, ye, relevant)
    assert torch.isclose(kept, span_loss(start[[0, 2]], end[[0, 2]], ys[[0, 2]], ye[[0, 2]], None))
    assert not torch.isclose(kept, everything)
    # a negative window's null-answer logits no longer move the loss
    start2 = start.clone()
    start2[1, 0] += 5.0
    assert torch.isclose(span_loss(start2, end, ys, ye, relevant), kept)
    assert not torch.isclose(span_loss(start2, end, ys, ye, None), everything)
    # a batch of negatives only: no span loss at all, and no division by zero
    assert span_loss(start, end, ys, ye, torch.zeros(3)) == 0


def _save_reader(model: ReaderModel, path: Path, meta: dict[str, object]) -> None:
    import json

    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    path.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")


def test_a_soup_is_the_mean_of_its_ingredients_and_drops_their_calibration(tmp_path: Path) -> None:
    from soup_reader import soup

    models, paths = [], []
    for i, dropout in enumerate((0.0, 0.1)):
        torch.manual_seed(i)
        model = ReaderModel(ReaderConfig(source_layers=[0, 1], dropout=dropout))
        for p in model.parameters():
            torch.nn.init.normal_(p)
        meta = {"name": "r", "config": model.cfg.to_dict(), "training": {"run": i}, "default_threshold": 0.3}
        _save_reader(model, tmp_path / f"r{i}.safetensors", meta)
        models.append(model)
        paths.append(tmp_path / f"r{i}.safetensors")
    averaged, meta = soup(paths)
    want = (models[0].layers[1].fo.weight + models[1].layers[1].fo.weight) / 2  # type: ignore[union-attr]
    assert torch.allclose(averaged.layers[1].fo.weight, want)  # type: ignore[union-attr]
    assert "default_threshold" not in meta and meta["config"]["dropout"] == 0.0
    assert [i["training"] for i in meta["training"]["ingredients"]] == [{"run": 0}, {"run": 1}]

    other = ReaderModel(ReaderConfig(source_layers=[0, 1, 2]))
    _save_reader(other, tmp_path / "other.safetensors", {"name": "r", "config": other.cfg.to_dict(), "training": {}})
    with pytest.raises(SystemExit, match="another architecture"):
        soup([paths[0], tmp_path / "other.safetensors"])
