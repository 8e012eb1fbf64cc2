"""One BLAS thread while the loop steps.

The loop's linear algebra is many small fits (the critic's consensus folds, the calibration, the student) whose
matrix products are too small to share between threads: OpenBLAS's hand-offs cost more than they save, so one
thread runs them several times faster (``benchmarks/round_latency.py``), and the sums come out in one order on
any machine (two threads add in another order, which moves probabilities in the fourth decimal). The BLAS thread
count is a process-wide setting, so steps running side by side (the service's runs) hold it together: the limit
is set when the first enters and lifted when the last leaves. Torch's threads (OpenMP) are untouched.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits

__all__ = ["one_blas_thread"]

_lock = threading.Lock()
_held: list[threadpool_limits] = []  # the limit set by the first of the steps now running
_count = [0]


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS on one thread inside, for every thread of the process; restored when no caller holds it any more."""
    with _lock:
        if _count[0] == 0:
            _held.append(threadpool_limits(limits=1, user_api="blas"))
        _count[0] += 1
    try:
        yield
    finally:
        with _lock:
            _count[0] -= 1
            if _count[0] == 0:
                _held.pop().restore_original_limits()
