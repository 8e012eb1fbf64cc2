"""One BLAS thread for the loop: a step sets numpy's and scipy's OpenBLAS to one thread (real threadpoolctl)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def _blas_threads_before_and_after_a_step(project, env: dict[str, str]) -> tuple[str, str]:
    """In a fresh process (the setting is process-wide): the BLAS libraries' thread counts before and after a step
    taken from a worker thread."""
    script = textwrap.dedent(
        f"""
        import threading
        import numpy
        from threadpoolctl import threadpool_info
        from labelgraph import Project

        def counts():
            return sorted(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")

        print(counts())
        run = Project.from_yaml({str(project)!r}).start()
        worker = threading.Thread(target=run.step)
        worker.start()
        worker.join()
        print(counts())
        run.close()
        """
    )
    environment = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"} | env
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=environment)
    assert done.returncode == 0, done.stderr
    before, after = done.stdout.split("\n")[:2]
    return before, after


def test_a_step_leaves_numpy_and_scipy_on_one_blas_thread(make_project):
    """One thread in every BLAS library after a step (numpy's and scipy's), whichever thread stepped."""
    before, after = _blas_threads_before_and_after_a_step(make_project(pool_size=40, test_size=0), {})
    assert before == f"[{os.cpu_count()}]" and after == "[1, 1]"  # numpy's alone before, as many as the cores


def test_a_machine_that_sets_openblas_threads_keeps_its_count(make_project):
    """``OPENBLAS_NUM_THREADS`` is the machine's own choice: a step leaves it."""
    before, after = _blas_threads_before_and_after_a_step(
        make_project(pool_size=40, test_size=0), {"OPENBLAS_NUM_THREADS": "2"}
    )
    assert before == "[2]" and after == "[2, 2]"
