"""One BLAS thread for the loop's linear algebra.

The loop's linear algebra is many small fits (the critic's consensus folds, the calibration, the student) whose
matrix products are too small to share between threads: OpenBLAS's hand-offs cost more than they save, so one
thread runs them several times faster (``benchmarks/round_latency.py`` at 20,000 texts: the critique 8.4 s a
round on two threads, 4.0 s on one), and the sums come out in one order on any machine that leaves the count to
labelgraph (two threads add in another order, which moves probabilities in the fourth decimal). Torch's threads
(OpenMP) are untouched.

The thread count is a process-wide setting, and it is left at one: steps run in different threads (the service
steps each run in its own), and OpenBLAS takes a raise back only from the thread that lowered it. A machine that
sets ``OPENBLAS_NUM_THREADS`` itself keeps its own count.
"""

from __future__ import annotations

import os

__all__ = ["one_blas_thread"]


def one_blas_thread() -> None:
    """Set numpy's and scipy's BLAS to one thread for the whole process (each loads its own OpenBLAS), unless
    ``OPENBLAS_NUM_THREADS`` names the machine's own count."""
    if os.environ.get("OPENBLAS_NUM_THREADS", "").strip() not in ("", "0"):  # 0 is OpenBLAS's own default
        return
    import scipy.linalg  # noqa: F401  scipy's BLAS loaded, so it is limited too
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
