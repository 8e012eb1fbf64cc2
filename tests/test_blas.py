"""One BLAS thread for the loop: a step sets numpy's and scipy's OpenBLAS to one thread (real threadpoolctl)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def test_a_step_leaves_numpy_and_scipy_on_one_blas_thread(make_project):
    """In a fresh process (the setting is process-wide): one thread in every BLAS library after a step (numpy's
    and scipy's), whichever thread stepped."""
    script = textwrap.dedent(
        f"""
        import threading
        import numpy
        from threadpoolctl import threadpool_info
        from labelgraph import Project

        def counts():
            return sorted(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")

        print(counts())
        run = Project.from_yaml({str(make_project(pool_size=40, test_size=0))!r}).start()
        worker = threading.Thread(target=run.step)
        worker.start()
        worker.join()
        print(counts())
        run.close()
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    before, after = done.stdout.split("\n")[:2]
    assert before == f"[{os.cpu_count()}]" and after == "[1, 1]"  # numpy's alone before, as many as the cores
