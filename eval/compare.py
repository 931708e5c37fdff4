"""Comparing a report with a baseline: per-question flips and a regression gate on aggregate metrics.

The gate fails when any quality metric (``eval.suite.QUALITY_METRICS``: retrieval, accuracy, F1/EM, citations,
abstention — never latency or answer length) of a configuration present in both reports drops by more than
``tolerance`` (absolute, e.g. 0.02 = two points). Configurations match by ``embedder/method/mode``; when the
current report has a single configuration and the baseline has a single one, they are compared even if their
keys differ (e.g. a run over HTTP against the in-process baseline).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.suite import QUALITY_METRICS

DEFAULT_TOLERANCE = 0.02


@dataclass
class Comparison:
    """The outcome of comparing one report with a baseline."""

    pairs: list[tuple[str, str]] = field(default_factory=list)
    regressions: list[str] = field(default_factory=list)
    improvements: list[str] = field(default_factory=list)
    drops: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No aggregate metric dropped by more than the tolerance, and something was compared."""
        return not self.drops and bool(self.pairs)

    def lines(self) -> list[str]:
        """Human-readable summary, one line each."""
        out = [f"compared {cur} with baseline {base}" for cur, base in self.pairs]
        out += [f"  no baseline for {key}" for key in self.unmatched]
        out += [f"  regression  {line}" for line in self.regressions]
        out += [f"  improvement {line}" for line in self.improvements]
        out += [f"  DROP {line}" for line in self.drops]
        out.append("gate: " + ("passed" if self.ok else "FAILED"))
        return out


def load(path: Path) -> dict[str, Any]:
    """A report written by ``rag eval``."""
    report: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return report


def _flips(current: dict[str, Any], baseline: dict[str, Any], key: str, result: Comparison) -> None:
    before = {q["id"]: q for q in baseline["questions"]}
    for q in current["questions"]:
        old = before.get(q["id"])
        if old is None:
            continue
        checks = [("answer", "correct"), ("abstention", "abstained"), ("retrieval hit@5", "hit@5")]
        for label, field_ in checks:
            if field_ not in q or field_ not in old or q[field_] == old[field_]:
                continue
            # abstaining is good on unanswerable questions only; the other flags are good when true
            better = q[field_] == (not q["answerable"]) if field_ == "abstained" else bool(q[field_])
            line = f"{key} {q['id']} [{q['type']}] {label}: {old[field_]} -> {q[field_]} — {q['question']}"
            (result.improvements if better else result.regressions).append(line)


def compare(current: dict[str, Any], baseline: dict[str, Any], tolerance: float = DEFAULT_TOLERANCE) -> Comparison:
    """Per-question flips and aggregate drops of ``current`` against ``baseline``."""
    result = Comparison()
    base_blocks = {b["key"]: b for b in baseline["configurations"]}
    for block in current["configurations"]:
        base = base_blocks.get(block["key"])
        if base is None and len(current["configurations"]) == 1 and len(base_blocks) == 1:
            base = next(iter(base_blocks.values()))
        if base is None:
            result.unmatched.append(block["key"])
            continue
        result.pairs.append((block["key"], base["key"]))
        _flips(block, base, block["key"], result)
        for metric in QUALITY_METRICS:
            old, new = base["aggregate"].get(metric), block["aggregate"].get(metric)
            if old is None:
                continue
            if new is None or new < old - tolerance - 1e-9:
                new_text = "undefined" if new is None else f"{new:.3f}"
                result.drops.append(f"{block['key']} {metric}: {old:.3f} -> {new_text} (tolerance {tolerance})")
    return result
