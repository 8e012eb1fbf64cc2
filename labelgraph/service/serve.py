"""``labelgraph serve``: the HTTP API and the review page on uvicorn."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated

import typer

from labelgraph.errors import ConfigError

__all__ = ["is_loopback", "serve_command"]


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
    required = "required" if token else "off"
    print(f"labelgraph serving {runs} on http://{host}:{port}/ (API docs at /docs; token {required})")
    app = create_app(runs, token=token, projects=projects or [Path.cwd()], allowed_hosts=allowed_host or ())
    uvicorn.run(app, host=host, port=port, log_level="info")
