"""The house's floors (README, "How it works"): ``index/`` is the ground and imports nothing of ``rag``, ``api`` or
``eval``; ``rag`` never imports ``api`` or ``eval`` (but ``rag.cli``, the command line: a surface on top, like
``api``); no two modules import each other, directly or round a circle
(module-level imports: a function-local import is a deliberate lazy load); no module is over 420 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("index", "rag", "api", "eval")
MAX_LINES = 420


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The house modules ``path`` imports at module level (``if TYPE_CHECKING:`` blocks left out)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        found.update(n for n in names if n in known)
    return found


MODULES = _modules()
GRAPH = {name: _imports(path, MODULES) for name, path in MODULES.items()}


@pytest.mark.parametrize(("floor", "above"), [("index", ("rag", "api", "eval")), ("rag", ("api", "eval"))])
def test_a_floor_never_imports_the_floors_above(floor: str, above: tuple[str, ...]) -> None:
    wrong = sorted(
        f"{m} imports {d}"
        for m, deps in GRAPH.items()
        if m.split(".")[0] == floor and m != "rag.cli"
        for d in deps
        if d.split(".")[0] in above
    )
    assert not wrong, wrong


def test_no_import_circle() -> None:
    state: dict[str, int] = {}
    stack: list[str] = []
    circles: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(GRAPH[m]):
            if d == m or d.startswith(m + "."):  # a package importing its own submodules
                continue
            if state.get(d) == 1:
                circles.append(" -> ".join([*stack[stack.index(d) :], d]))
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)
    assert not circles, circles


def test_no_module_is_over_the_size_limit() -> None:
    long = {
        n: c
        for n, p in MODULES.items()
        if n.split(".")[0] != "eval"
        if (c := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, long
