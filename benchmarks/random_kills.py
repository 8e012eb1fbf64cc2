"""Durability at random moments: SIGKILL a run anywhere, resume it, and get the uninterrupted run's export.

    python benchmarks/random_kills.py [--kills 30] [--seed 1] [--early K] [--delays 3.5,12] [--keep]

Builds the small project of tests/test_crash_resume.py (60 pool texts, 6 seeds, 40 test texts, two people-rounds)
and runs it once uninterrupted with tests/crash_runner.py (a simulated person answers every review), timing it and
noting when the run folder appears and when ``run.json`` is written. Then, for each kill, a fresh copy of the
project: the runner starts in a new process group, is SIGKILLed after a delay, ``labelgraph status --json`` says
what it sees, and the runner is started again (no kill) until it exits 0 (at most 3 tries) and writes the export.
The export must equal the reference byte for byte, with no id twice. The ``.summary.json`` written beside it is
compared too, and temporary files (``*.tmp-*``) left in the folder are listed; both are reported apart.

Delays: ``--early`` of them (default a tenth, at least one) fall uniformly around the run folder's creation and
the embedding (from the folder's first appearance to just after ``run.json``, as timed in the reference); the rest
uniformly within the reference run's wall time. Each delay comes from its own seed ``SEED:i`` (``random.Random``),
printed with it; ``--delays`` replays given delays instead. A kill that lands after the runner has already exited
is drawn again, up to 3 times, within that run's own wall time (the missed draws are listed); one that never
lands is counted as not landed (its export is still compared). A kill after the export was written (during the
interpreter's exit) is counted as landed after the export: that export is compared too, and status must say done.
Failed resume attempts are errors, even when a later try succeeds. Prints one line per kill and a summary, and
ends with one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests package: the same project and runner as the crash test

from tests.conftest import EXAMPLE, cli_env  # noqa: E402
from tests.test_crash_resume import RUNNER, write_project  # noqa: E402

os.environ.setdefault("LABELGRAPH_EMBEDDING", "minilm")  # measured on MiniLM, as its figures were

GOLD = EXAMPLE / "gold.jsonl"
EXPORT = "labels.jsonl"
SUMMARY = EXPORT + ".summary.json"  # written beside the export: compared too, reported apart
TIMEOUT = 900  # seconds for one uninterrupted run or resume, on a loaded machine
TRIES = 3
REDRAWS = 3  # draws again when a run ends before its kill (the machine was faster than for the reference)


def runner_args(folder: Path) -> list[str]:
    return [sys.executable, str(RUNNER), str(folder / "project.yaml"), str(GOLD), str(folder / EXPORT)]


def start_runner(folder: Path) -> subprocess.Popen[bytes]:
    """The runner in a new process group (so a kill reaches anything it started), its stderr kept in a file."""
    stderr = (folder / "runner.stderr").open("ab")
    try:
        return subprocess.Popen(
            runner_args(folder),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**cli_env(), "LABELGRAPH_PROGRESS": "off"},
            cwd=folder,
            start_new_session=True,
        )
    finally:
        stderr.close()


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def reference(folder: Path) -> dict[str, Any]:
    """Run the project uninterrupted, noting when the run folder, run.json and the checkpoints first exist."""
    folder.mkdir(parents=True, exist_ok=True)
    write_project(folder)
    marks = {"run_dir": folder / "run", "run_json": folder / "run" / "run.json"}
    seen: dict[str, float] = {}
    began = time.monotonic()
    proc = start_runner(folder)
    while proc.poll() is None:
        now = time.monotonic() - began
        for name, path in marks.items():
            if name not in seen and path.exists():
                seen[name] = now
        if time.monotonic() - began > TIMEOUT:
            kill_group(proc)
            raise SystemExit(f"the reference run took over {TIMEOUT} s")
        time.sleep(0.02)
    seconds = time.monotonic() - began
    if proc.returncode != 0:
        raise SystemExit(f"the reference run failed (exit {proc.returncode}): {tail(folder / 'runner.stderr', 20)}")
    data = (folder / EXPORT).read_bytes()
    ids = [json.loads(line)["id"] for line in data.decode("utf-8").splitlines() if line.strip()]
    if len(set(ids)) != len(ids):
        raise SystemExit("the reference export holds an id twice")
    summary = (folder / SUMMARY).read_bytes()
    return {"seconds": seconds, "marks": seen, "export": data, "summary": summary, "rows": len(ids)}


def status_after(folder: Path) -> str:
    """What ``labelgraph status --json`` says of the killed run: its phase and round, or its one-line error."""
    done = subprocess.run(
        [sys.executable, "-m", "labelgraph.cli", "status", str(folder / "project.yaml"), "--json"],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=300,
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        first = lines[0] if lines else f"exit {done.returncode}"
        if "not a run folder" in first:
            return "no run (no run.json)"
        return f"exit {done.returncode}: {first[:200]}"
    try:
        status = json.loads(done.stdout)
    except json.JSONDecodeError:
        return f"unreadable json: {done.stdout[:120]!r}"
    return f"{status.get('phase')} (round {status.get('round')}, pending {len(status.get('pending') or [])})"


def first_differences(expected: bytes, got: bytes, lines: int = 12) -> list[str]:
    diff = difflib.unified_diff(
        expected.decode("utf-8", errors="replace").splitlines(),
        got.decode("utf-8", errors="replace").splitlines(),
        "reference",
        "resumed",
        n=0,
        lineterm="",
    )
    return [line[:300] for _, line in zip(range(lines), diff, strict=False)]


def one_kill(folder: Path, delay: float, ref: dict[str, Any]) -> dict[str, Any]:
    """Kill a fresh run after ``delay`` seconds, ask status, resume to the end and compare the export."""
    write_project(folder)
    result: dict[str, Any] = {"delay": round(delay, 3), "errors": []}
    started = time.monotonic()
    proc = start_runner(folder)
    try:
        proc.wait(timeout=delay)
        result["landed"] = False  # the runner was done (or failed) before the kill
        result["ran_seconds"] = time.monotonic() - started
        result["exit"] = proc.returncode
        if proc.returncode != 0:
            result["errors"].append(f"the run failed before its kill: {tail(folder / 'runner.stderr')}")
    except subprocess.TimeoutExpired:
        kill_group(proc)
        result["landed"] = proc.returncode == -signal.SIGKILL  # not if it exited in the same instant
        result["exit"] = proc.returncode
    result["folder"] = (
        "run.json" if (folder / "run" / "run.json").exists() else "partial" if (folder / "run").exists() else "none"
    )
    result["export_after_kill"] = (folder / EXPORT).exists()
    result["status"] = status_after(folder)
    if result["landed"] and result["export_after_kill"]:
        # the export is the runner's last step (an atomic write): a kill after it hits the interpreter's exit
        if (folder / EXPORT).read_bytes() != ref["export"]:
            result["errors"].append("a killed run left an export that differs from the reference")
        elif not result["status"].startswith("done"):
            result["errors"].append(f"a killed run left the full export, but status says {result['status']}")
        else:
            result["after_export"] = True

    began, tries = time.monotonic(), 0
    finished = not result["landed"] and proc.returncode == 0  # the runner beat the kill and wrote the export
    for attempt in range(1, 0 if finished else TRIES + 1):
        tries = attempt
        (folder / "runner.stderr").write_bytes(b"")
        resumed = start_runner(folder)
        try:
            code = resumed.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            kill_group(resumed)
            code = "timeout"
        if code == 0:
            break
        result["errors"].append(f"resume try {attempt} failed ({code}): {tail(folder / 'runner.stderr')}")
    result["resume_seconds"] = round(time.monotonic() - began, 1)
    result["resume_tries"] = tries

    leftovers = sorted(str(path.relative_to(folder)) for path in folder.rglob("*.tmp-*"))
    if leftovers:
        result["leftover_files"] = leftovers
    if not (folder / EXPORT).exists():
        result["matched"] = False
        result["errors"].append("no export after resuming")
        return result
    got = (folder / EXPORT).read_bytes()
    ids = [json.loads(line)["id"] for line in got.decode("utf-8").splitlines() if line.strip()]
    result["duplicate_ids"] = sorted({i for i in ids if ids.count(i) > 1})
    result["rows"] = len(ids)
    result["matched"] = got == ref["export"] and not result["duplicate_ids"]
    if got != ref["export"]:
        result["diff"] = first_differences(ref["export"], got)
    summary = folder / SUMMARY
    result["summary_matched"] = summary.exists() and summary.read_bytes() == ref["summary"]
    if not result["summary_matched"]:
        result["summary_diff"] = first_differences(ref["summary"], summary.read_bytes() if summary.exists() else b"")
    return result


def draw_delays(count: int, early: int, seed: int, ref: dict[str, Any]) -> list[tuple[str, random.Random, float]]:
    """``early`` delays around the folder's creation and embedding, the rest within the reference's wall time.

    Each comes with its generator, which draws again (within the faster run's own time) when a run beats its kill.
    """
    marks = ref["marks"]
    low = max(0.0, marks.get("run_dir", 1.0) - 0.5)
    high = marks.get("run_json", low + 2.0) + 0.5
    delays = []
    for i in range(count):
        rng = random.Random(f"{seed}:{i}")
        delay = rng.uniform(low, high) if i < early else rng.uniform(0.0, ref["seconds"])
        delays.append((f"{seed}:{i}", rng, delay))
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--early", type=int, default=None, help="kills around folder creation (default kills/10)")
    parser.add_argument("--delays", default=None, help="comma-separated delays in seconds, instead of random ones")
    parser.add_argument("--keep", action="store_true", help="keep every kill's folder (kept anyway on a failure)")
    args = parser.parse_args()

    load_start = os.getloadavg()
    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="random_kills-"))
    print(f"work folder {work}; load average {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}", flush=True)
    ref = reference(work / "reference")
    marks = ", ".join(f"{name} at {at:.1f} s" for name, at in ref["marks"].items())
    print(f"reference: {ref['seconds']:.1f} s, {ref['rows']} rows, {len(ref['export'])} bytes; {marks}", flush=True)

    if args.delays:
        plan = [(f"given:{i}", None, float(value)) for i, value in enumerate(args.delays.split(","))]
    else:
        early = args.early if args.early is not None else max(1, round(args.kills / 10))
        plan = draw_delays(args.kills, min(early, args.kills), args.seed, ref)

    results, loads = [], []
    for number, (seed, rng, delay) in enumerate(plan, 1):
        folder = work / f"kill-{number:02d}"
        loads.append(os.getloadavg()[0])
        missed = []
        for _ in range(REDRAWS + 1):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            try:
                result = one_kill(folder, delay, ref)
            except Exception as error:  # the harness itself: counted, never hidden
                result = {"delay": round(delay, 3), "matched": False, "errors": [f"harness: {error!r}"]}
            if rng is None or result.get("landed") is not False or result["errors"] or not result.get("matched"):
                break
            missed.append(round(delay, 2))  # the run beat its kill: draw again within this run's own time
            delay = rng.uniform(0.0, result["ran_seconds"])
        result.update(seed=seed, number=number, missed=missed)
        results.append(result)
        landed = "killed" if result.get("landed") else "NOT killed (runner already done)"
        landed += " after its export was written, while exiting" if result.get("after_export") else ""
        verdict = "export matches" if result.get("matched") else "EXPORT DIFFERS"
        extra = f", {len(result['errors'])} error(s)" if result["errors"] else ""
        extra += f", duplicate ids {result['duplicate_ids']}" if result.get("duplicate_ids") else ""
        extra += f", leftover {result['leftover_files']}" if result.get("leftover_files") else ""
        extra += "" if result.get("summary_matched", True) else f", {SUMMARY} DIFFERS"
        extra += f" (drawn again after {missed} s ended first)" if missed else ""
        print(
            f"[{number:2d}/{len(plan)}] seed {seed} delay {delay:6.2f} s: {landed}; folder {result.get('folder')}; "
            f"status: {result.get('status')}; resumed in {result.get('resume_seconds')} s "
            f"({result.get('resume_tries')} tries): {verdict}{extra}",
            flush=True,
        )
        for error in result["errors"]:
            print(f"      error: {error}", flush=True)
        for line in result.get("diff", []) + result.get("summary_diff", []):
            print(f"      {line}", flush=True)
        clean = result.get("summary_matched") and not result["errors"] and not result.get("leftover_files")
        if result.get("matched") and clean and not args.keep:
            shutil.rmtree(folder, ignore_errors=True)

    matched = [r for r in results if r.get("matched")]
    mismatched = [
        {k: r.get(k) for k in ("number", "seed", "delay", "status", "folder", "diff", "duplicate_ids")}
        for r in results
        if not r.get("matched")
    ]
    errors = [{"number": r["number"], "seed": r["seed"], "delay": r["delay"], "errors": r["errors"]} for r in results]
    errors = [e for e in errors if e["errors"]]
    summary_differs = [r["number"] for r in results if not r.get("summary_matched", False)]
    leftover = {r["number"]: r["leftover_files"] for r in results if r.get("leftover_files")}
    landed = sum(1 for r in results if r.get("landed"))
    after_export = sum(1 for r in results if r.get("after_export"))
    phases: dict[str, int] = {}
    for r in results:
        phase = str(r.get("status", "?")).split(" (")[0]
        phases[phase] = phases.get(phase, 0) + 1
    seconds = time.monotonic() - began
    load_end = os.getloadavg()
    print(
        f"\n{len(results)} kills ({landed} landed before the runner's end, {after_export} of them after the export), "
        f"{len(matched)} resumed to the reference export byte for byte, {len(mismatched)} did not, {len(errors)} with "
        f"errors; status after the kill: {phases}; {seconds / 60:.1f} min; load average {load_start[0]:.2f} at the "
        f"start, {load_end[0]:.2f} at the end"
    )
    if summary_differs or leftover:
        print(f"{SUMMARY} differs after kills {summary_differs}; temporary files left after kills {leftover}")
    if mismatched or errors or summary_differs or leftover:
        print(f"folders of the failures kept under {work}")
    elif not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    summary = {
        "benchmark": "random_kills",
        "kills": len(results),
        "matched": len(matched),
        "mismatched": mismatched,
        "errors": errors,
        "load_average": {
            "start": round(load_start[0], 2),
            "end": round(load_end[0], 2),
            "mean_at_kills": round(sum(loads) / len(loads), 2) if loads else None,
        },
        "landed": landed,
        "after_export": after_export,
        "summary_differs": summary_differs,
        "leftover_tmp_files": leftover,
        "status_phases": phases,
        "reference_seconds": round(ref["seconds"], 1),
        "seconds": round(seconds, 1),
        "seed": args.seed,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
