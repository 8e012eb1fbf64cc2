"""The HTTP API (FastAPI): create and advance runs, answer reviews, export labels, follow progress.

Bound to 127.0.0.1 by default; with a token every request must carry ``Authorization: Bearer TOKEN``
(compared in constant time). Answers are checked like ``Run.answer``: an item that is not pending or a label
outside the set is 422, an item answered already (the first answer wins) or committed already is 409.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from labelgraph.agents.human import ReviewItem
from labelgraph.errors import ConflictError, LabelgraphError, ReviewError, RunError, RunNotFound
from labelgraph.service.runs import RunRegistry

__all__ = ["create_app"]


class CreateRun(BaseModel):
    project: Path = Field(description="a project file on the server's disk")
    start: bool = Field(True, description="advance the run at once")


class Answer(BaseModel):
    id: str
    label: str | None = Field(description="a label from the set, or null to set the item aside")


class Answers(BaseModel):
    answers: list[Answer] = Field(min_length=1)
    reviewer: str = Field("web", max_length=100)


class Recorded(BaseModel):
    recorded: int
    pending: int
    resuming: bool


def create_app(runs: Path, *, token: str | None = None) -> FastAPI:
    """The app over the runs folder ``runs``; with ``token``, every request must present it."""
    registry = RunRegistry(runs)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        registry.close()

    app = FastAPI(title="labelgraph", version="0.1.0", lifespan=lifespan)
    app.state.registry = registry

    def authorised(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.encode(), token.encode()):
            raise HTTPException(401, "missing or wrong token", headers={"WWW-Authenticate": "Bearer"})

    guarded = [Depends(authorised)]

    @app.exception_handler(LabelgraphError)
    async def _labelgraph_error(request: Request, error: LabelgraphError):  # type: ignore[no-untyped-def]
        from fastapi.responses import JSONResponse

        if isinstance(error, RunNotFound):
            code = 404
        elif isinstance(error, ConflictError | RunError):  # answered or committed already; run in another state
            code = 409
        else:
            code = 422
        return JSONResponse({"detail": str(error)}, status_code=code)

    def status_of(name: str) -> dict[str, Any]:
        busy = registry.busy(name)
        status = registry.status(name).model_dump()
        status.update(busy=busy, error=registry.error(name))
        if busy:  # mid-step the checkpoint may read as paused (old interrupt) or done: neither is true yet
            status["phase"] = "running"
        return status

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return (files("labelgraph.service") / "static" / "review.html").read_text(encoding="utf-8")

    @app.get("/runs", dependencies=guarded)
    def list_runs() -> list[str]:
        return registry.names()

    @app.post("/runs", status_code=201, dependencies=guarded)
    def create_run(body: CreateRun) -> dict[str, Any]:
        run = registry.create(body.project)
        if body.start:
            registry.step(run.config.name)
        return status_of(run.config.name)

    @app.get("/runs/{name}", dependencies=guarded, response_model=None)
    def get_status(name: str) -> dict[str, Any]:
        return status_of(name)

    @app.post("/runs/{name}/step", status_code=202, dependencies=guarded)
    def step(name: str) -> dict[str, Any]:
        registry.step(name)
        return status_of(name)

    @app.get("/runs/{name}/reviews", dependencies=guarded)
    def reviews(name: str) -> list[ReviewItem]:
        return registry.get(name).pending_reviews()

    @app.post("/runs/{name}/answers", dependencies=guarded)
    def answer(name: str, body: Answers) -> Recorded:
        run = registry.get(name)
        count = run.answer([(a.id, a.label) for a in body.answers], reviewer=body.reviewer)
        left = len(run.pending_reviews())
        if left == 0:  # the queue is clear: the graph takes the answers and goes on
            registry.step(name)
        return Recorded(recorded=count, pending=left, resuming=left == 0)

    @app.delete("/runs/{name}/answers/{item_id}", dependencies=guarded)
    def undo(name: str, item_id: str) -> dict[str, str]:
        registry.get(name).withdraw(item_id)
        return {"undone": item_id}

    @app.get("/runs/{name}/metrics", dependencies=guarded)
    def metrics(name: str) -> list[dict[str, Any]]:
        return registry.status(name).history

    @app.get("/runs/{name}/export", dependencies=guarded)
    def export(name: str, format: str = "jsonl") -> FileResponse:
        if format not in {"jsonl", "csv"}:
            raise ReviewError(f"format {format!r}: use jsonl or csv")
        run = registry.get(name)
        folder = Path(tempfile.mkdtemp(prefix="labelgraph-export-"))
        path = folder / f"{name}.{format}"
        try:
            run.export(path)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        cleanup = BackgroundTask(shutil.rmtree, folder, ignore_errors=True)
        return FileResponse(path, filename=path.name, background=cleanup)

    @app.get("/runs/{name}/events", dependencies=guarded)
    async def events(name: str, request: Request) -> StreamingResponse:
        """Server-sent events: the run's status each time it changes, until the client leaves."""
        registry.get(name)

        async def stream() -> AsyncIterator[str]:
            last = None
            while not await request.is_disconnected():
                current = await asyncio.to_thread(status_of, name)
                text = json.dumps(current, default=str)
                if text != last:
                    last = text
                    yield f"data: {text}\n\n"
                await asyncio.sleep(0.5)

        return StreamingResponse(stream(), media_type="text/event-stream")

    return app
