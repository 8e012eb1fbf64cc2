"""``labelgraph serve``: the HTTP API and the review page on uvicorn."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from labelgraph.errors import ConfigError

if TYPE_CHECKING:
    import uvicorn

__all__ = ["CONNECTIONS", "is_loopback", "serve_command", "server_config"]

CONNECTIONS = 128
"""Connections served at once; past that uvicorn answers 503 (open review pages each hold one for their events)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_command(
    host: Annotated[str, typer.Option(help="Address to bind; anything but loopback needs a token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    runs: Annotated[Path, typer.Option(help="Folder that holds the service's runs.")] = Path("runs"),
    token_env: Annotated[
        str, typer.Option(help="Environment variable that holds the API token (never pass a token as an argument).")
    ] = "LABELGRAPH_TOKEN",
    projects: Annotated[
        list[Path] | None,
        typer.Option(help="A folder whose project files POST /runs may open (repeat it; default: this folder)."),
    ] = None,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            help="A Host header to answer besides the bound address, e.g. a proxy's name (repeat it; '*': any)."
        ),
    ] = None,
) -> None:
    """Serve the HTTP API (docs at /docs) and the review page (/) for the runs in RUNS.

    Without a token only requests that name the bound address (or --allowed-host) are answered."""
    import uvicorn

    from labelgraph.service.api import create_app

    token = os.environ.get(token_env) or None
    if token is None and not is_loopback(host):
        raise ConfigError(f"refusing to bind {host} without a token: set {token_env}, or bind 127.0.0.1")
    docs = "/docs#token=TOKEN; token required" if token else "/docs; token off"
    print(f"labelgraph serving {runs} on http://{host}:{port}/ (API docs at {docs})")
    app = create_app(runs, token=token, projects=projects or [Path.cwd()], allowed_hosts=allowed_host or ())
    uvicorn.Server(server_config(app, host=host, port=port, log_level="info")).run()


def server_config(
    app: Any, *, host: str, port: int, log_level: str = "info", request_seconds: float | None = None
) -> uvicorn.Config:
    """uvicorn's settings for the service: each request must arrive whole within ``request_seconds`` (default
    ``deadline.REQUEST_SECONDS``; slow clients are cut off), idle keep-alive connections close after 5 s, at most
    ``CONNECTIONS`` are served at once (503 past that), and a request's headers may hold at most 64 KiB (h11)."""
    import uvicorn

    from labelgraph.service.deadline import REQUEST_SECONDS, with_deadline

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        http=with_deadline(request_seconds or REQUEST_SECONDS),
        timeout_keep_alive=5,
        limit_concurrency=CONNECTIONS,
        h11_max_incomplete_event_size=64 * 1024,
    )
