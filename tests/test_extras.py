"""Optional extras missing: one clear line naming the extra, exit 1, nothing touched (never a raw traceback).

CI installs every extra, so each run hides the extra's modules from a fresh interpreter (``sys.modules[name] =
None`` makes ``import name`` fail exactly as when the package is not installed).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag import extras
from rag.errors import MissingExtraError
from rag.settings import Settings

from .conftest import SEEDS

RUN_WITHOUT = """import sys
for name in {hidden!r}:
    sys.modules[name] = None
sys.argv = ['rag', *{args!r}]
from rag.cli import main
main()
"""


def rag_without(hidden: list[str], args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    code = RUN_WITHOUT.format(hidden=hidden, args=args)
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={**clean, "RAG_EMBEDDER": "hashing", "RAG_INDEX_DIR": str(tmp_path / "idx"), **env},
    )


def assert_one_clear_line(proc: subprocess.CompletedProcess[str], extra: str) -> None:
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "ModuleNotFoundError" not in proc.stderr
    assert f"pip install 'rag[{extra}]'" in lines[0] and "make install-extras" in lines[0]


@pytest.mark.parametrize("command", [["index", "build", str(SEEDS)], ["search", "CCI"], ["serve", "--port", "1"]])
def test_milvus_without_its_extra(tmp_path: Path, command: list[str]) -> None:
    milvus_db = tmp_path / "milvus" / "rag.db"
    proc = rag_without(
        ["pymilvus", "milvus_lite"], command, tmp_path, RAG_VECTOR_STORE="milvus", RAG_MILVUS_URI=str(milvus_db)
    )
    assert_one_clear_line(proc, "milvus")
    assert "RAG_VECTOR_STORE=milvus" in proc.stderr
    assert not (tmp_path / "idx").exists() and not milvus_db.parent.exists()  # nothing touched


def test_milvus_lite_alone_missing_is_named(tmp_path: Path) -> None:
    proc = rag_without(["milvus_lite"], ["index", "build", str(SEEDS)], tmp_path, RAG_VECTOR_STORE="milvus")
    assert_one_clear_line(proc, "milvus")
    assert "milvus_lite not installed" in proc.stderr


def test_milvus_server_uri_needs_only_the_client() -> None:
    settings = Settings(vector_store="milvus", milvus_uri="http://127.0.0.1:19530")
    assert extras.milvus_modules(settings.milvus_uri) == ("pymilvus",)


def test_ray_without_its_extra(tmp_path: Path) -> None:
    proc = rag_without(["ray"], ["index", "build", str(SEEDS), "--ray", "auto"], tmp_path)
    assert_one_clear_line(proc, "ray")
    assert not (tmp_path / "idx").exists()


def test_an_installed_but_broken_extra_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "broken_extra_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("raise ImportError('libfoo.so: cannot open shared object file')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MissingExtraError, match=r"broken_extra_pkg failed to import: libfoo.so.*rag\[demo\]"):
        extras.load("demo", "the demo feature", "broken_extra_pkg")


def test_present_modules_pass() -> None:
    extras.require("core", "anything", "json", "numpy")
    assert extras.load("core", "anything", "json").dumps([]) == "[]"
