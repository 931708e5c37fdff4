"""Durable, atomic ingestion: SIGKILL a writer at random moments; nothing acknowledged is lost or doubled.

A child process (``ingest_child.py``) changes the index and logs each change before it starts and once it is
acknowledged. The parent kills it at a random moment, reopens the index the way a writer does (strictly: no
fallback) and checks that it loads, that the documents, chunks, vectors and lexical entries agree one for
one, that no document or chunk appears twice, and that the documents are exactly those of the acknowledged
changes, plus or minus the one change that was in flight. The next trial's writer starts from that state.

Under strace, one writer's ``fsync``/``rename`` calls show the publication order: every renamed file or
directory fsynced before its rename, the parent directory fsynced after it, before the next rename and
before the acknowledgement.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from index.generations import current
from index.manifest import MANIFEST
from rag.chunking import Chunker
from rag.corpus_index import DOCUMENTS_FILE, CorpusIndex
from rag.embedders.hashing import HashingEmbedder
from rag.ingest import make_document
from tests.reliability import figures
from tests.reliability.ingest_child import settings_for, sha

pytestmark = pytest.mark.reliability

CHILD = Path(__file__).with_name("ingest_child.py")
TRIALS = figures.sized(30, 200)
OPS_PER_TRIAL = 200
"""More changes than a trial has time for: the kill nearly always lands while the writer works."""
KILL_AFTER = (0.05, 0.9)
"""Seconds between the start of a trial's writer and its SIGKILL (uniform)."""
SEED = 20240605

State = dict[str, str]
"""Document id → digest of its text."""


def apply(state: State, changes: list[dict[str, Any]]) -> State:
    """The documents after ``changes`` (as logged by the child)."""
    out = dict(state)
    for change in changes:
        if change["op"] == "add":
            out.update(change["docs"])
        else:
            out.pop(change["id"], None)
    return out


def read_log(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any] | None, bool]:
    """The acknowledged changes, the change in flight (begun, not acknowledged) and whether the writer finished."""
    acked: list[dict[str, Any]] = []
    begun: dict[str, Any] | None = None
    done = False
    for line in path.read_text().splitlines() if path.exists() else []:
        kind, _, payload = line.partition(" ")
        if kind == "begin":
            begun = json.loads(payload)
        elif kind == "ack":
            acked.append(json.loads(payload))
            begun = None
        elif kind == "done":
            done = True
    return acked, begun, done


def stored_state(index_dir: Path) -> State:
    """Reopen the index strictly and check it is whole; returns its documents. Raises AssertionError."""
    settings = settings_for(index_dir)
    index = CorpusIndex.load(settings, HashingEmbedder())  # raises on a missing, corrupt or inconsistent index
    assert index.read_only is None and index.load_problem is None
    manifest, gen_dir = current(index_dir)
    records = [json.loads(line) for line in (gen_dir / DOCUMENTS_FILE).read_text(encoding="utf-8").splitlines()]
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), f"a document is stored twice: {sorted(ids)}"
    chunk_ids = [c[0] for r in records for c in r["chunks"]]
    assert len(chunk_ids) == len(set(chunk_ids)), "a chunk id is used twice"
    stored = [c[0] for r in records for c in r["chunks"] if len(c) == 4]  # the others alias an identical chunk
    lexical_ids = [json.loads(line)[0] for line in (gen_dir / "lexical.jsonl").read_text().splitlines()]
    vector_ids = index.vectors.ids().tolist() if index.vectors is not None else []
    assert sorted(stored) == sorted(lexical_ids) == sorted(vector_ids), "chunks, lexical and vectors disagree"
    counts = {"documents": len(ids), "chunks": len(chunk_ids), "vectors": len(vector_ids), "lexical": len(lexical_ids)}
    assert {k: manifest.counts.get(k) for k in counts} == counts, (manifest.counts, counts)
    assert manifest.counts.get("duplicates", 0) == len(chunk_ids) - len(stored)
    chunker = Chunker(settings.chunk_tokens, settings.chunk_overlap)
    for doc_id, doc in index.documents.items():
        assert len(index.chunks_of(doc_id)) == len(chunker.split(doc)), f"{doc_id}: chunks missing or doubled"
    assert max(chunk_ids, default=-1) < manifest.next_chunk_id
    if index.documents:
        index.search("ballon montgolfière")
    return {doc_id: sha(doc.text) for doc_id, doc in index.documents.items()}


def initial_index(index_dir: Path) -> State:
    """A published index of three documents to start from."""
    docs = [make_document(f"c{i:02d}", f"Document c{i:02d}. Le ballon numéro {i} survole la baie.") for i in (0, 1, 2)]
    CorpusIndex(settings_for(index_dir), HashingEmbedder()).add_documents(docs)
    return {d.id: sha(d.text) for d in docs}


class Zygote:
    """``ingest_child.py zygote``: forks a writer per trial (a fork instead of a Python start-up)."""

    def __init__(self, work: Path) -> None:
        self.stderr_path = work / "zygote.stderr"
        self._stderr = self.stderr_path.open("wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
        self.process = subprocess.Popen(
            [sys.executable, str(CHILD), "zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=env,
        )
        assert self._line() == "ready"

    def _line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def start(self, **request: Any) -> int:
        """Fork a writer; its pid."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return int(self._line())

    def errors(self) -> str:
        """What the writers wrote on stderr so far."""
        return self.stderr_path.read_text()

    def close(self) -> None:
        """Stop the zygote."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(10)
        self._stderr.close()


def kill_and_wait(pid: int, timeout: float = 10.0) -> bool:
    """SIGKILL ``pid`` and wait until it is gone; whether it was still running."""
    try:
        os.kill(pid, signal.SIGKILL)
        alive = True
    except ProcessLookupError:
        alive = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return alive
        time.sleep(0.005)
    raise AssertionError(f"writer {pid} did not die")


def crash_trials(work: Path, trials: int, *, ack_early: bool = False, stop_at_failure: bool = False) -> dict[str, Any]:
    """Run ``trials`` kill-and-check trials on one index; the counts, and the failures' reasons."""
    index_dir = work / "index"
    state = initial_index(index_dir)
    rng = random.Random(SEED)
    zygote = Zygote(work)
    stats: dict[str, Any] = {"trials": 0, "killed": 0, "in_flight": 0, "acked": 0, "failures": []}
    try:
        for trial in range(trials):
            log = work / f"trial-{trial:04d}.log"
            pid = zygote.start(
                index=str(index_dir), seed=SEED + trial, ops=OPS_PER_TRIAL, log=str(log), ack_early=ack_early
            )
            time.sleep(rng.uniform(*KILL_AFTER))
            stats["killed"] += kill_and_wait(pid)
            stats["trials"] += 1
            acked, in_flight, _ = read_log(log)
            stats["acked"] += len(acked)
            stats["in_flight"] += in_flight is not None
            allowed = [apply(state, acked)]
            if in_flight is not None:
                allowed.append(apply(state, [*acked, in_flight]))
            try:
                assert not zygote.errors(), f"the writer failed: {zygote.errors()[-500:]}"
                found = stored_state(index_dir)
                assert found in allowed, _difference(found, allowed[0])
                state = found
            except Exception as exc:  # every failure is counted and reported, then the index is rebuilt
                stats["failures"].append(f"trial {trial}: {type(exc).__name__}: {exc}"[:400])
                if stop_at_failure:
                    break
                shutil.rmtree(index_dir)
                state = initial_index(index_dir)
                zygote.stderr_path.write_text("")
    finally:
        zygote.close()
    return stats


def _difference(found: State, expected: State) -> str:
    lost = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    changed = sorted(k for k in set(found) & set(expected) if found[k] != expected[k])
    return f"acknowledged documents lost {lost}, unexpected {extra}, other text {changed}"


def test_sigkill_never_loses_an_acknowledged_document(tmp_path: Path) -> None:
    began = time.monotonic()
    stats = crash_trials(tmp_path, TRIALS)
    seconds = time.monotonic() - began
    failures = len(stats["failures"])
    figures.record(
        "crash",
        f"crash: {stats['trials']} SIGKILL trials ({stats['killed']} killed mid-run, {stats['in_flight']} with a "
        f"write in flight, {stats['acked']} acknowledged writes), {failures} failures",
        seconds=round(seconds, 1),
        **{k: v for k, v in stats.items() if k != "failures"},
        failures=failures,
        failure_reasons=stats["failures"][:10],
    )
    assert stats["trials"] == TRIALS and failures == 0, stats["failures"][:5]
    assert stats["killed"] >= TRIALS * 0.9 and stats["in_flight"] >= TRIALS * 0.5, stats


def test_the_checks_catch_an_early_acknowledgement(tmp_path: Path) -> None:
    """The same trials against a writer that acknowledges before writing: the checks must see it lose data."""
    stats = crash_trials(tmp_path, 20, ack_early=True, stop_at_failure=True)
    assert stats["failures"] and "lost" in stats["failures"][0], stats


# -- the order of fsync and rename ---------------------------------------------------------------------------

_CALL = re.compile(r"^(?:\[pid\s+)?(\d+)\]?\s+(\w+)\((.*)\)\s+=\s+(-?\d+)")
_FD = re.compile(r"^\d+<(.*)>")


def _syscalls(trace: str) -> list[tuple[str, list[str]]]:
    """(name, path arguments) of each completed call in an ``strace -f -y`` log."""
    calls = []
    for line in trace.splitlines():
        match = _CALL.match(line)
        if not match or int(match.group(4)) < 0:
            continue
        name, args = match.group(2), match.group(3)
        if name in ("fsync", "fdatasync"):
            fd = _FD.match(args)
            calls.append((name, [fd.group(1)] if fd else []))
        elif name.startswith("rename"):
            calls.append(("rename", re.findall(r'"([^"]*)"', args)))
        elif name == "write" and "acks.log" in args and "ack " in args:
            calls.append(("ack", []))
    return calls


def check_publication_order(calls: list[tuple[str, list[str]]], final_dirs: dict[str, list[str]]) -> int:
    """Assert fsync → rename → fsync(dir) for every rename, and that every acknowledgement comes after the
    directory fsync of the last rename. ``final_dirs``: a renamed directory's files. Returns the renames seen."""
    renames = [i for i, (name, _) in enumerate(calls) if name == "rename"]
    assert renames, "no rename traced"
    for position, i in enumerate(renames):
        source, target = calls[i][1][-2:]
        previous = renames[position - 1] if position else -1
        synced_before = {path for name, paths in calls[previous + 1 : i] if name != "rename" for path in paths}
        needed = {source} | {f"{source}/{f}" for f in final_dirs.get(Path(target).name, [])}
        assert needed <= synced_before, f"renamed {source} before fsync of {sorted(needed - synced_before)}"
        following = next((j for j in range(i + 1, len(calls)) if calls[j][0] in ("rename", "ack")), len(calls))
        synced_after = {path for name, paths in calls[i + 1 : following] for path in paths}
        parent = str(Path(target).parent)
        after = calls[following][0] if following < len(calls) else "exit"
        assert parent in synced_after, f"{after} after the rename of {target} without fsync of {parent}"
    return len(renames)


REQUIRE_STRACE = os.environ.get("RAG_TEST_REQUIRE_STRACE") == "1"
"""CI sets it (``scripts/system_deps.sh`` installs strace): a missing or unusable strace then fails."""


def _no_strace(reason: str) -> None:
    if REQUIRE_STRACE:
        pytest.fail(f"RAG_TEST_REQUIRE_STRACE=1 but {reason}")
    pytest.skip(reason)


def test_fsync_then_rename_then_fsync_of_the_directory(tmp_path: Path) -> None:
    if shutil.which("strace") is None:
        _no_strace("strace is not installed (apt-get install -y strace, or make system-deps)")
    tmp_path = tmp_path.resolve()  # strace shows descriptors by their real path
    index_dir = tmp_path / "index"
    initial_index(index_dir)
    log = tmp_path / "acks.log"
    out = tmp_path / "strace.txt"
    command = ["strace", "-f", "-y", "-qq", "-o", str(out)]
    command += ["-e", "trace=fsync,fdatasync,rename,renameat,renameat2,write", "-e", "signal=none"]
    command += [sys.executable, str(CHILD), "run", "--index", str(index_dir), "--seed", "7", "--ops", "4"]
    command += ["--log", str(log)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    if done.returncode != 0 and "ptrace" in done.stderr:
        _no_strace(f"strace cannot trace here: {done.stderr.strip()[:200]}")
    assert done.returncode == 0, done.stderr[-2000:]
    acked, _, finished = read_log(log)
    assert finished and len(acked) == 4
    calls = _syscalls(out.read_text())
    final_dirs = {p.name: sorted(f.name for f in p.iterdir()) for p in index_dir.iterdir() if p.is_dir()}
    renames = check_publication_order(calls, final_dirs)
    fsyncs = sum(name in ("fsync", "fdatasync") for name, _ in calls)
    assert renames == 2 * len(acked)  # the generation directory, then the manifest, per change
    assert any(paths and paths[-1].endswith(f"/{MANIFEST}") for name, paths in calls if name == "rename")
    figures.record(
        "strace",
        f"strace: {len(acked)} acknowledged writes, {renames} renames, {fsyncs} fsyncs, "
        "order fsync → rename → fsync(dir) → ack held for every rename",
        renames=renames,
        fsyncs=fsyncs,
    )


def test_the_order_check_rejects_a_rename_before_fsync() -> None:
    """The checker itself: a rename without a prior fsync, or without a directory fsync after, fails."""
    good = [
        ("fsync", ["/i/gen-1.tmp/a"]),
        ("fsync", ["/i/gen-1.tmp"]),
        ("rename", ["/i/gen-1.tmp", "/i/gen-1"]),
        ("fsync", ["/i"]),
        ("ack", []),
    ]
    assert check_publication_order(good, {"gen-1": ["a"]}) == 1
    with pytest.raises(AssertionError, match="before fsync"):
        check_publication_order([good[1], *good[2:]], {"gen-1": ["a"]})
    with pytest.raises(AssertionError, match="without fsync"):
        check_publication_order([*good[:3], good[4], good[3]], {"gen-1": ["a"]})
