"""Index generations: each change is written to a new directory, then published by the manifest.

Layout::

    INDEX_DIR/manifest.json      the published generation (written last, atomically)
    INDEX_DIR/gen-000007/        the files of generation 7 (their checksums are in the manifest)

Writers build ``gen-N.tmp``, fsync every file and the directory, rename it to ``gen-N``, fsync the
parent, then replace ``manifest.json`` the same way. The previous generations stay for a while, so a
reader that opened one never sees its files vanish.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

from index.atomic import fsync_path, sha256_file, write_atomic
from index.manifest import MANIFEST, FileEntry, Manifest, read_manifest
from rag.errors import IndexCorruptError, IndexMissingError

KEEP_GENERATIONS = 3
_GEN = re.compile(r"^gen-(\d{6,})$")


def generation_name(number: int) -> str:
    """Directory name of a generation."""
    return f"gen-{number:06d}"


def current(index_dir: Path, verify: bool = True) -> tuple[Manifest, Path]:
    """The published manifest and its generation directory, with every file's checksum verified."""
    manifest = read_manifest(index_dir)
    gen_dir = index_dir / manifest.directory
    if not _GEN.match(manifest.directory) or not gen_dir.is_dir():
        raise IndexCorruptError(f"{index_dir}: generation {manifest.directory!r} named by the manifest is missing")
    if verify:
        for name, entry in manifest.files.items():
            path = gen_dir / name
            if not path.is_file():
                raise IndexCorruptError(f"{path}: missing")
            if path.stat().st_size != entry.size or sha256_file(path) != entry.sha256:
                raise IndexCorruptError(f"{path}: checksum mismatch (file truncated or altered)")
    return manifest, gen_dir


def publish(
    index_dir: Path, write_files: Callable[[Path], list[str]], make_manifest: Callable[..., Manifest]
) -> Manifest:
    """Write a new generation with ``write_files(tmp_dir)`` and publish it.

    ``make_manifest(generation=..., directory=..., files=...)`` builds the manifest once the files are known.
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    number = _next_generation(index_dir)
    name = generation_name(number)
    tmp = index_dir / f"{name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    names = write_files(tmp)
    files: dict[str, FileEntry] = {}
    for file_name in names:
        path = tmp / file_name
        fsync_path(path)
        files[file_name] = FileEntry(sha256=sha256_file(path), size=path.stat().st_size)
    fsync_path(tmp)
    final = index_dir / name
    tmp.rename(final)
    fsync_path(index_dir)
    manifest = make_manifest(generation=number, directory=name, files=files)
    write_atomic(index_dir / MANIFEST, manifest.model_dump_json(indent=2).encode())
    _prune(index_dir, keep=number)
    return manifest


def _next_generation(index_dir: Path) -> int:
    numbers = [int(m.group(1)) for p in index_dir.iterdir() if (m := _GEN.match(p.name.removesuffix(".tmp")))]
    try:
        numbers.append(read_manifest(index_dir).generation)
    except (IndexMissingError, IndexCorruptError):
        pass
    except Exception:  # a foreign manifest still blocks its generation number
        pass
    return max(numbers, default=0) + 1


def _prune(index_dir: Path, keep: int) -> None:
    """Remove unfinished and old generations, keeping the last few published ones."""
    for path in index_dir.iterdir():
        match = _GEN.match(path.name.removesuffix(".tmp"))
        if not match:
            continue
        number = int(match.group(1))
        if (path.name.endswith(".tmp") and number != keep) or number <= keep - KEEP_GENERATIONS:
            shutil.rmtree(path, ignore_errors=True)
