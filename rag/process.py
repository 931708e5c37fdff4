"""What the benchmarks and the tests do with processes: find a free loopback port, stop a server, read a
process's resident memory (Linux ``/proc``). One definition for ``bench/`` and ``tests/``."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path


def free_port() -> int:
    """A TCP port nobody listens on right now, on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a server's workers)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo += children.get(current, [])
    return out


def rss_bytes(pid: int | str = "self", *, tree: bool = False) -> int:
    """Resident memory of a process (0 where unavailable); with ``tree``, of it and its descendants, as their
    proportional set size when there are several (pages they share, such as a memory-mapped model, count once)."""
    pids: list[int | str] = list(process_tree(int(pid))) if tree and pid != "self" else [pid]
    key, name = ("VmRSS:", "status") if len(pids) == 1 else ("Pss:", "smaps_rollup")
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/{name}").read_text().splitlines():
                if line.startswith(key):
                    total += int(line.split()[1]) * 1024
                    break
        except OSError:
            pass
    return total


def rss_mb(pid: int | str = "self") -> float:
    """Resident set size of one process, in MB."""
    return rss_bytes(pid) / 2**20


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 10 s (nothing when it has exited already)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
