"""A real uvicorn server on 127.0.0.1 in a thread, for the service tests."""

from __future__ import annotations

import shutil
import socket
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

from labelgraph.service.api import create_app


def console_script(name: str) -> str | None:
    """The path of a package's command: the one beside this interpreter first (make test does not put the venv
    on PATH), then any on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(runs: Path, *, token: str | None = None):
    """Yield the base URL of the service over ``runs``, serving on a free loopback port."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(runs, token=token), host="127.0.0.1", port=port, log_level="warning")
    )
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
