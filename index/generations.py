"""Index generations: each change is written to a new directory, then published by the manifest.

Layout::

    INDEX_DIR/manifest.json      the published generation (written last, atomically)
    INDEX_DIR/gen-000007/        the files of generation 7 (their checksums are in the manifest)

Writers build ``gen-N.tmp``, fsync every file and the directory, rename it to ``gen-N``, fsync the
parent, then replace ``manifest.json`` the same way. The previous generations stay for a while, so a
reader that opened one never sees its files vanish.

Each generation also holds a copy of its own manifest (``gen-N/manifest.json``, written and fsynced before
the rename), so that an earlier generation can still be verified and served when the published one is
damaged (see :func:`generation_dirs`, :func:`read_generation` and ``CorpusIndex.load(fallback=True)``).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from index.atomic import fsync_path, sha256_file, write_atomic
from index.errors import IndexCorruptError, IndexMissingError
from index.manifest import MANIFEST, FileEntry, Manifest, read_manifest, sealed
from index.originals import verify_blobs

KEEP_GENERATIONS = 3
WRITER_LOCK = ".writer.lock"
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
        verify_files(manifest, gen_dir)
    return manifest, gen_dir


def verify_files(manifest: Manifest, gen_dir: Path) -> None:
    """Raise :class:`IndexCorruptError` unless every file of ``manifest`` has its size and SHA-256."""
    for name, entry in manifest.files.items():
        path = gen_dir / name
        if not path.is_file():
            raise IndexCorruptError(f"{path}: missing")
        if path.stat().st_size != entry.size or sha256_file(path) != entry.sha256:
            raise IndexCorruptError(f"{path}: checksum mismatch (file truncated or altered)")
    verify_blobs(gen_dir.parent, manifest.originals)


def generation_dirs(index_dir: Path) -> list[Path]:
    """The finished generation directories (``gen-N``, not ``gen-N.tmp``), newest first."""
    if not index_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in index_dir.iterdir() if (m := _GEN.match(p.name)) and p.is_dir()]
    return [path for _, path in sorted(found, reverse=True)]


def read_generation(gen_dir: Path) -> tuple[Manifest, Path]:
    """A generation from its own manifest copy, every file verified: what :func:`current` returns, for a
    generation that ``manifest.json`` no longer (or cannot) name."""
    manifest = read_manifest(gen_dir)
    if manifest.directory != gen_dir.name:
        raise IndexCorruptError(f"{gen_dir}: its manifest names {manifest.directory!r}")
    verify_files(manifest, gen_dir)
    return manifest, gen_dir


@contextmanager
def writer_lock(index_dir: Path) -> Iterator[None]:
    """The index folder's cross-process writer lock (``flock`` on ``.writer.lock``): one writing process at a
    time, whatever the process (server, ``rag index add``, a build). Readers never take it. The kernel releases it
    when its holder dies, so a killed writer never leaves the index locked."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / WRITER_LOCK).open("a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


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
    manifest = sealed(make_manifest(generation=number, directory=name, files=files))
    data = manifest.model_dump_json(indent=2).encode()
    with (tmp / MANIFEST).open("wb") as out:  # the generation's own copy, for fallback when manifest.json is lost
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    fsync_path(tmp)
    final = index_dir / name
    tmp.rename(final)
    fsync_path(index_dir)
    write_atomic(index_dir / MANIFEST, data)
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
    """Remove unfinished and old generations, keeping the last few published ones, and the manifest temporary
    files a killed writer left behind."""
    for path in index_dir.iterdir():
        if path.name.startswith(f".{MANIFEST}.tmp-"):
            if not _alive(path.name.rsplit("-", 1)[-1]):
                path.unlink(missing_ok=True)
            continue
        match = _GEN.match(path.name.removesuffix(".tmp"))
        if not match:
            continue
        number = int(match.group(1))
        if (path.name.endswith(".tmp") and number != keep) or number <= keep - KEEP_GENERATIONS:
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: str) -> bool:
    """Whether ``pid`` names a running process (a writer that may still be renaming its temporary file)."""
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
