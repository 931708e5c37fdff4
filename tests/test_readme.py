"""The README documents every setting: a new ``RAG_*`` variable without a line in the table fails here."""

from __future__ import annotations

from pathlib import Path

from rag.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_setting_is_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [f"RAG_{name.upper()}" for name in Settings.model_fields if f"`RAG_{name.upper()}`" not in text]
    assert not missing, f"settings missing from the README's configuration table: {missing}"
