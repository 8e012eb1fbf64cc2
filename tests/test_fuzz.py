"""The fuzz suite in CI: a few hundred generated hostile inputs (project files, data files, damaged run folders),
no traceback, no hang, nothing wrongly accepted. The long form: ``python benchmarks/fuzz_inputs.py``."""

from __future__ import annotations

import time
from collections import Counter

from tests.fuzz_cases import attempt, generate, template_run

CASES = 300
SEED = 20261125


def test_generated_hostile_inputs_fail_in_one_line(tmp_path):
    started = time.perf_counter()
    template = template_run(tmp_path / "template")
    outcomes = [attempt(case, timeout=10) for case in generate(CASES, SEED, tmp_path / "cases", template)]
    counts = Counter(outcome.result for outcome in outcomes)
    bad = [
        f"{o.result}: {o.case.family} {o.case.name}: {o.detail}"
        for o in outcomes
        if o.result not in {"accepted", "refused"}
    ]
    print(f"{CASES} cases in {time.perf_counter() - started:.1f} s: {dict(counts)}")
    assert not bad, "\n".join(bad[:20])
    assert counts["refused"] > CASES / 2  # the generator does reach the checks
