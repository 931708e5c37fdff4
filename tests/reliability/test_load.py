"""Load: ``bench/load.py`` against a real server, ``/v1/search`` and ``/v1/ask`` at 8 and 32 connections.

No answer may be a non-2xx other than the deliberate 429 (rate limit) and 503 (saturation), no request may
fail in transport, and the server's RSS may grow by less than 10 % from the end of the warm-up to the end of
the run. The hashing embedder and the sentence answerer (``RAG_READER=none``) keep the run free of model
weights (``bench/load.py`` measures the default reader); ``RAG_RELIABILITY_LONG=1`` runs the issue's
60 s per route and concurrency.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability import figures

pytestmark = pytest.mark.reliability

DURATION = figures.sized(2.5, 60.0)
WARMUP = figures.sized(3.0, 20.0)
CONNECTIONS = [8, 32]
MAX_RSS_GROWTH = 10.0


def test_load_at_8_and_32_connections(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    command = [sys.executable, str(figures.ROOT / "bench" / "load.py"), "--embedder", "hashing", "--threads", "1"]
    command += ["--duration", str(DURATION), "--warmup", str(WARMUP), "--connections", *map(str, CONNECTIONS)]
    command += ["--json", str(out), "--check", "--max-rss-growth", str(MAX_RSS_GROWTH), "--set", "RAG_READER=none"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    timeout = 120 + 4 * DURATION + WARMUP
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp_path)
    assert out.exists(), done.stderr[-3000:]
    data = json.loads(out.read_text())
    results, rss = data["results"], data["rss"]
    table = "; ".join(
        f"{r['route']} ×{r['connections']}: {r['requests']} req, {r['throughput_rps']:.0f}/s, "
        f"p99 {r['p99_ms']:.0f} ms, {r['refused']} 429/503"
        for r in results
    )
    failures = data["failures"]
    figures.record(
        "load",
        f"load: {DURATION:g} s per route and concurrency (8, 32) on /v1/search and /v1/ask, {failures} failures "
        f"(non-2xx other than 429/503), RSS {rss['after_warmup_mb']} → {rss['end_mb']} MB "
        f"({rss['growth_percent']:+.1f} %) | {table}",
        duration_s=DURATION,
        results=results,
        rss=rss,
        failures=failures,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert {(r["route"], r["connections"]) for r in results} == {
        (route, c) for route in ("/v1/search", "/v1/ask") for c in CONNECTIONS
    }
    assert failures == 0 and all(r["errors"] == 0 for r in results)
    assert rss["growth_percent"] < MAX_RSS_GROWTH
    assert all(r["requests"] - r["refused"] > 0 for r in results)
