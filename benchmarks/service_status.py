"""Status under load: 20 clients poll ``GET /runs/NAME`` on a real server (its own process) holding one run
paused for review, the review page's and the events stream's request.

    python benchmarks/service_status.py [--clients 20] [--seconds 10] [--pool 400]

The server runs twice over the same run folder: "before" computes the status on every request (the service
as it is with its status cache off), "after" once per checkpoint. Prints p50 / p95 latency and requests per
second for each and the ratios. The clients share the machine's cores with the server: on a small machine
they are part of the load. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import yaml

os.environ.setdefault("LABELGRAPH_EMBEDDING", "minilm")  # measured on MiniLM, as its figures were

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "movie_reviews"
LABELS = {"positive": "the reviewer likes the film", "negative": "the reviewer dislikes the film"}


def rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (EXAMPLE / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def write_project(folder: Path, pool_size: int) -> tuple[Path, dict[str, str]]:
    """The example project, its pool cycled to ``pool_size`` texts (copies get a suffix); and its gold labels."""
    gold = {row["id"]: row["label"] for row in rows("gold.jsonl")}
    source = itertools.cycle(rows("pool.jsonl"))
    pool, labels = [], {}
    for n, row in zip(range(pool_size), source, strict=False):
        pool.append({"id": f"p{n}", "text": row["text"] if n < 400 else f"{row['text']} ({n})"})
        labels[f"p{n}"] = gold.get(row["id"], "positive")
    for name, data in (
        ("pool.jsonl", pool),
        ("seed.jsonl", rows("seed.jsonl")[:6]),
        ("test.jsonl", rows("test.jsonl")),
    ):
        (folder / name).write_text("".join(json.dumps(row) + "\n" for row in data), encoding="utf-8")
    config = {
        "name": "bench",
        "pool": "pool.jsonl",
        "seed": "seed.jsonl",
        "test": "test.jsonl",
        "labels": LABELS,
        "batch_size": 20,
        "budget": 200,
        "max_rounds": 20,
    }
    project = folder / "project.yaml"
    project.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return project, labels


def serve(port: int, mode: str) -> None:
    """The server process: ``before`` computes the status on every request, ``after`` is the service as it is."""
    import uvicorn

    from labelgraph.service.api import create_app
    from labelgraph.service.runs import RunRegistry

    if mode == "before":
        RunRegistry.status = lambda self, name: self.get(name).status()  # type: ignore[method-assign]
    uvicorn.run(create_app(Path("runs")), host="127.0.0.1", port=port, log_level="warning")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(folder: Path, mode: str) -> tuple[str, subprocess.Popen]:
    port = free_port()
    command = [sys.executable, str(Path(__file__).resolve()), "--serve", str(port), "--mode", mode]
    process = subprocess.Popen(command, cwd=folder, env={**os.environ, "PYTHONPATH": str(ROOT)})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/runs", timeout=2).status_code == 200:
                return url, process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start")


def answer_rounds(client: httpx.Client, name: str, gold: dict[str, str], rounds: int) -> dict:
    """Answer ``rounds`` review batches with the gold labels, so the run has some history; end paused."""
    status = wait_paused(client, name)
    for _ in range(rounds):
        items = client.get(f"/runs/{name}/reviews").json()
        answers = [{"id": i["id"], "label": gold.get(i["id"], "positive")} for i in items]
        client.post(f"/runs/{name}/answers", json={"answers": answers}).raise_for_status()
        time.sleep(0.5)
        status = wait_paused(client, name)
    return status


def wait_paused(client: httpx.Client, name: str) -> dict:
    while True:
        status = client.get(f"/runs/{name}").json()
        if status.get("error"):
            raise SystemExit(status["error"])
        if status["phase"] in {"paused", "done"} and not status["busy"]:
            return status
        time.sleep(0.5)


def load(url: str, name: str, clients: int, seconds: float) -> dict[str, float]:
    """``clients`` threads poll the status for ``seconds``; latencies in ms, requests per second."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def poll() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while time.monotonic() < stop:
                began = time.perf_counter()
                client.get(f"/runs/{name}").raise_for_status()
                with lock:
                    latencies.append((time.perf_counter() - began) * 1000)

    began = time.monotonic()
    threads = [threading.Thread(target=poll) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    cuts = statistics.quantiles(latencies, n=20)
    return {
        "p50_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(cuts[18], 1),
        "req_per_s": round(len(latencies) / elapsed, 1),
        "requests": len(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--pool", type=int, default=400, help="texts in the pool (the example's, cycled)")
    parser.add_argument("--rounds", type=int, default=2, help="review rounds answered before the load")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="after", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.mode)
        return
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="labelgraph-status-") as tmp:
        folder = Path(tmp)
        project, gold = write_project(folder, args.pool)
        for mode in ("before", "after"):
            url, process = start(folder, mode)
            try:
                with httpx.Client(base_url=url, timeout=600) as client:
                    name = client.post("/runs", json={"project": str(project)}).raise_for_status().json()["name"]
                    status = answer_rounds(client, name, gold, args.rounds if mode == "before" else 0)
                results[mode] = load(url, name, args.clients, args.seconds)
            finally:
                process.terminate()
                process.wait(timeout=60)
            print(
                f"{mode:>6}: p50 {results[mode]['p50_ms']} ms, p95 {results[mode]['p95_ms']} ms, "
                f"{results[mode]['req_per_s']} req/s ({args.clients} clients, round {status['round']}, "
                f"pool {status['pool']}, {status['labels']} labels)"
            )
    before, after = results["before"], results["after"]
    ratios = {
        "p50_before_over_after": round(before["p50_ms"] / after["p50_ms"], 1),
        "req_per_s_after_over_before": round(after["req_per_s"] / before["req_per_s"], 1),
    }
    print(f"ratio: p50 {ratios['p50_before_over_after']}x lower, {ratios['req_per_s_after_over_before']}x req/s")
    print(json.dumps({"benchmark": "service_status", "clients": args.clients, **results, **ratios}))


if __name__ == "__main__":
    main()
