"""A real uvicorn server on 127.0.0.1 in a thread (or ``labelgraph serve`` in a process), for the service tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

from labelgraph.service.api import create_app
from labelgraph.service.serve import server_config


def console_script(name: str) -> str | None:
    """The path of a package's command: the one beside this interpreter first (make test does not put the venv
    on PATH), then any on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


BROWSER_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
"""Chromium's flags for the page tests: headless, and nothing of its own to fetch."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(
    runs: Path,
    *,
    token: str | None = None,
    projects: Sequence[Path] | None = None,
    allowed_hosts: Sequence[str] = (),
    request_seconds: float | None = None,
):
    """Yield the base URL of the service over ``runs``, serving on a free loopback port with ``labelgraph serve``'s
    settings (``request_seconds``: each request's time to arrive); project files may be opened from ``projects``
    (default: the folder that holds ``runs``)."""
    port = free_port()
    app = create_app(runs, token=token, projects=projects or [runs.parent], allowed_hosts=allowed_hosts)
    config = server_config(app, host="127.0.0.1", port=port, log_level="warning", request_seconds=request_seconds)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the service did not start")
        time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def wait_for(client: httpx.Client, name: str, phases: set[str], timeout: float = 120) -> dict:
    """Poll the run's status until it is in ``phases`` and not advancing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/runs/{name}").raise_for_status().json()
        if status["phase"] in phases and not status["busy"]:
            return status
        if status["error"]:
            raise AssertionError(status["error"])
        time.sleep(0.2)
    raise AssertionError(f"run {name} never reached {phases}")


def wait_until_up(url: str, process, *, timeout: float = 120, log: Path | None = None) -> None:
    """Poll ``url`` until it answers 200; fail (and stop ``process``) if it dies or the time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            tail = log.read_text()[-3000:] if log is not None and log.exists() else ""
            raise AssertionError(f"the server behind {url} did not start\n{tail}")
        time.sleep(0.2)


@contextmanager
def serve_process(folder: Path, *args: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """``labelgraph serve ARGS`` run from ``folder`` in its own process (its memory can be read); yield its URL."""
    port = free_port()
    command = console_script("labelgraph")
    assert command is not None, "the labelgraph command is not installed"
    log = folder / "serve.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [command, "serve", "--port", str(port), "--runs", "runs", *args],
            cwd=folder,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/", process, log=log)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def peak_memory_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for process {pid}")
