"""The figures the reliability tests measure: each test records one line (and its numbers) here.

A figure is written to ``data/reliability/<name>.json`` and kept for the terminal summary that
``tests/reliability/conftest.py`` prints at the end of the run, so ``make reliability`` and CI show them
without ``-s``. ``python -m tests.reliability.figures`` prints the last recorded figures again.

``RAG_RELIABILITY_LONG=1`` selects the issue's full sizes (200 crash trials, 1,000 corruptions, 15 s of
reads under writes, 60 s of load); without it the tests run versions sized for CI.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FIGURES_DIR = ROOT / "data" / "reliability"
LONG = os.environ.get("RAG_RELIABILITY_LONG", "") not in ("", "0")
RECORDED: list[str] = []


def sized(ci: int | float, long: int | float) -> Any:
    """``long`` under ``RAG_RELIABILITY_LONG=1``, else ``ci``."""
    return long if LONG else ci


def record(name: str, line: str, **numbers: Any) -> None:
    """Keep ``line`` (e.g. ``"crash: 200 trials, 0 failures"``) for the summary and write it with ``numbers``."""
    RECORDED.append(line)
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    payload = {"name": name, "figure": line, "long": LONG, "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S"), **numbers}
    (FIGURES_DIR / f"{name}.json").write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")


def main() -> None:
    """Print the recorded figures, one line each."""
    files = sorted(FIGURES_DIR.glob("*.json"))
    if not files:
        sys.exit(f"no figures in {FIGURES_DIR}: run the reliability tests first")
    for path in files:
        data = json.loads(path.read_text())
        size = "long" if data.get("long") else "ci"
        print(f"{data['figure']}  [{size}, {data.get('recorded_at', '?')}]")


if __name__ == "__main__":
    main()
