"""What the benchmark scripts share: the seed-corpus questions, and the percentile they report (the evaluation's
own, linearly interpolated: a bench p99 and an eval p99 mean the same)."""

from __future__ import annotations

from eval.metrics import percentile

__all__ = ["SEED_QUESTIONS", "percentile"]

SEED_QUESTIONS = [
    "Qui préside la CCI Hauts-de-France ?",
    "Combien d'entreprises adhèrent à la Cité de l'IA ?",
    "Quand a été signée la feuille de route État-Région en Auvergne-Rhône-Alpes ?",
    "Quel est le projet de la CCI Aix-Marseille Provence ?",
    "Who founded Cleyrop?",
    "Où s'est tenue la soirée Choose Rouen ?",
    "intelligence artificielle entreprises formation",
    "Microsoft écoles IA",
]
