"""What the benchmark scripts share: the nearest-rank percentile they report and the seed-corpus questions."""

from __future__ import annotations

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


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (0 for no values): always a measured value, never an interpolation."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]
