"""The HTTP API (FastAPI): create and advance runs, answer reviews, export labels, follow progress.

Bound to 127.0.0.1 by default; with a token every request must carry ``Authorization: Bearer TOKEN``
(compared in constant time). Without a token only Host headers naming the bound address are answered, and
writes from a foreign Origin are refused (DNS rebinding, cross-site requests). Bodies are limited in size.
Answers are checked like ``Run.answer``: an item that is not pending, a label outside the set or an item
twice in one submission is 422, an item answered already (the first answer wins) or committed already is 409.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, model_validator
from starlette.background import BackgroundTask

from labelgraph.agents.human import ReviewItem
from labelgraph.errors import ConflictError, LabelgraphError, ReviewError, RunError, RunNotFound
from labelgraph.service.guard import Guard
from labelgraph.service.runs import ProjectRefused, RunRegistry
from labelgraph.session.run import Phase, RunStatus

__all__ = ["MAX_BODY", "RunSummary", "create_app"]

log = logging.getLogger("uvicorn.error")

MAX_BODY = 1_000_000
"""Bytes a request body may have (a submission of a few thousand answers fits)."""


class CreateRun(BaseModel):
    project: str = Field(max_length=4096, description="a project file inside the folders the server may open")
    start: bool = Field(True, description="advance the run at once")


class Answer(BaseModel):
    id: str = Field(max_length=1000)
    label: str | None = Field(max_length=1000, description="a label from the set, or null to set the item aside")


class Answers(BaseModel):
    answers: list[Answer] = Field(min_length=1)
    reviewer: str = Field("web", max_length=100)

    @model_validator(mode="after")
    def _once_each(self) -> Answers:
        seen: set[str] = set()
        for answer in self.answers:
            if answer.id in seen:
                raise ValueError(f"item {answer.id!a} is answered twice in one submission: send one answer")
            seen.add(answer.id)
        return self


def printable(text: str) -> str:
    """A message any client can decode, whatever bytes a request put into it."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def invalid_request(error: RequestValidationError) -> str:
    """Where and what, for the first few problems; never the values sent (they may be huge or not encodable)."""
    problems = [f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}" for problem in error.errors()[:5]]
    return printable("; ".join(problems)[:2000])


def page(name: str) -> str:
    """A page from ``static/`` with the shared script put into its one inline script (one hash allows both)."""
    static = files("labelgraph.service") / "static"
    common = (static / "common.js").read_text(encoding="utf-8")
    return (static / name).read_text(encoding="utf-8").replace("/* common.js */", common, 1)


def page_headers(html: str, *, own_files: bool = False) -> dict[str, str]:
    """A Content-Security-Policy that allows the page's own inline script and style (by hash) and nothing else;
    ``own_files``: also scripts and styles from this server, and style attributes (the API docs' Swagger UI)."""

    def hashes(tag: str) -> str:
        bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.DOTALL)
        digests = [base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() for body in bodies]
        found = " ".join(f"'sha256-{digest}'" for digest in digests)
        return f"'self' {found}".strip() if own_files else found or "'none'"

    styles = "'self' 'unsafe-inline'" if own_files else hashes("style")  # Swagger UI sets style attributes
    policy = (
        f"default-src 'none'; script-src {hashes('script')}; style-src {styles}; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


class ServedStatus(RunStatus):
    """A run's status as the service tells it: ``busy`` while it advances, ``error`` if its last step failed."""

    busy: bool
    error: str | None


class RunSummary(BaseModel):
    """One run in the run list (``GET /runs``)."""

    name: str
    phase: Phase | None = Field(description="None: the run folder cannot be read (see error)")
    busy: bool
    round: int = 0
    pending: int = Field(0, description="items waiting for an answer")
    answered: int = Field(0, description="items answered, waiting for the run to continue")
    coverage: float = 0.0
    accuracy: float | None = Field(None, description="estimated accuracy of the accepted machine labels")
    accuracy_lower: float | None = Field(None, description="its lower bound")
    human_labels: int = 0
    budget: int = 0
    stop_reason: str | None = None
    error: str | None = None
    updated: datetime | None = Field(description="when a file of the run last changed (ISO 8601, UTC)")


def attention(run: RunSummary) -> int:
    """How soon the run needs someone: answers first, then a Continue, then working, new, done, unreadable."""
    if run.pending:  # paused for them, or a batch open while its round works
        return 0
    if run.phase in ("interrupted", "paused"):
        return 1
    return {"running": 2, "new": 3, "done": 4}.get(run.phase or "", 5)


EPOCH = datetime.fromtimestamp(0, UTC)


def resume_waiting(registry: RunRegistry) -> None:
    """Step the runs whose answers wait for a commit, saying so on the server's log."""
    for name in registry.resume_waiting():
        log.info("run %s: every item of its round was answered but not committed; it goes on", name)


class Recorded(BaseModel):
    recorded: int
    pending: int
    resuming: bool


def create_app(
    runs: Path,
    *,
    token: str | None = None,
    projects: Sequence[Path] | None = None,
    allowed_hosts: Sequence[str] = (),
    max_body: int = MAX_BODY,
) -> FastAPI:
    """The app over the runs folder ``runs``; with ``token``, every request must present it.

    ``projects``: folders whose project files may be opened (default: the current folder). Without a token,
    or with ``allowed_hosts``, only Host headers naming the bound address or one of ``allowed_hosts`` are
    answered (``"*"`` answers any).
    """
    registry = RunRegistry(runs, projects or [Path.cwd()])
    run_list, review, docs = page("runs.html"), page("review.html"), page("docs.html")
    run_list_headers, review_headers = page_headers(run_list), page_headers(review)
    docs_headers = page_headers(docs, own_files=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # rounds answered whole but not committed (a server stopped in between) go on, off the start-up path
        waking = asyncio.create_task(asyncio.to_thread(resume_waiting, registry))
        yield
        await waking
        registry.close()

    # /docs and /openapi.json are this app's own routes: Swagger UI's files come from this server, and the API's
    # description is behind the token like every route that carries data
    app = FastAPI(
        title="labelgraph", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.registry = registry
    check_hosts = token is None or bool(allowed_hosts)
    app.add_middleware(Guard, max_body=max_body, check_hosts=check_hosts, allowed_hosts=allowed_hosts)

    def authorised(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.encode(), token.encode()):
            raise HTTPException(401, "missing or wrong token", headers={"WWW-Authenticate": "Bearer"})

    guarded = [Depends(authorised)]

    @app.exception_handler(LabelgraphError)
    async def _labelgraph_error(request: Request, error: LabelgraphError) -> JSONResponse:
        if isinstance(error, RunNotFound):
            code = 404
        elif isinstance(error, ProjectRefused):
            code = 403
        elif isinstance(error, ConflictError | RunError):  # answered or committed already; run in another state
            code = 409
        else:
            code = 422
        return JSONResponse({"detail": printable(str(error))}, status_code=code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": invalid_request(error)}, status_code=422)

    def status_of(name: str) -> ServedStatus:
        busy = registry.busy(name)
        status = dict(registry.status(name))
        if busy:  # mid-step the checkpoint may read as paused (old interrupt) or done: neither is true yet
            status["phase"] = "running"
        return ServedStatus.model_construct(**status, busy=busy, error=registry.error(name))  # checked already

    def status_response(name: str, code: int = 200) -> Response:
        """The status as JSON, written by pydantic (FastAPI's generic encoder took 3 ms of each request)."""
        return Response(status_of(name).model_dump_json(), status_code=code, media_type="application/json")

    def summary(name: str) -> RunSummary:
        updated = registry.updated(name)
        try:
            status = status_of(name)
        except Exception as error:  # one unreadable run folder must not hide the others
            return RunSummary(name=name, phase=None, busy=False, error=printable(str(error))[:500], updated=updated)
        estimate = status.estimate
        return RunSummary(
            name=name,
            phase=status.phase,
            busy=status.busy,
            round=status.round,
            pending=len(status.pending),
            answered=len(status.answered),
            coverage=status.coverage,
            accuracy=estimate.accuracy if estimate else None,
            accuracy_lower=estimate.lower if estimate else None,
            human_labels=status.human_labels,
            budget=status.budget,
            stop_reason=status.stop_reason,
            error=status.error,
            updated=updated,
        )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def run_list_page(run: str | None = None) -> Response:
        if run:  # the review page's old address, /?run=NAME
            return RedirectResponse(f"/review/{quote(run, safe='')}", status_code=307)
        return HTMLResponse(run_list, headers=run_list_headers)

    @app.get("/review/{name}", response_class=HTMLResponse, include_in_schema=False)
    def review_page(name: str) -> HTMLResponse:
        return HTMLResponse(review, headers=review_headers)

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs_page() -> HTMLResponse:
        """The API's documentation (Swagger UI): a page without data of its own, which reads /openapi.json with
        the token from its address (/docs#token=TOKEN)."""
        return HTMLResponse(docs, headers=docs_headers)

    @app.get("/openapi.json", dependencies=guarded, include_in_schema=False)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    app.mount("/docs/assets", StaticFiles(directory=str(files("fastapi_offline") / "static")), name="docs-assets")

    @app.get("/runs", dependencies=guarded)
    def list_runs() -> list[RunSummary]:
        """Every run in the runs folder: runs waiting for answers first, then runs waiting to be continued
        (interrupted, or paused with every item answered), then running, new and done ones; newest first within each.
        """
        runs = sorted((summary(name) for name in registry.names()), key=lambda run: run.updated or EPOCH, reverse=True)
        return sorted(runs, key=attention)

    @app.post("/runs", status_code=201, dependencies=guarded, response_model=ServedStatus)
    def create_run(body: CreateRun) -> Response:
        run = registry.create(body.project)
        if body.start:
            registry.step(run.config.name)
        return status_response(run.config.name, 201)

    @app.get("/runs/{name}", dependencies=guarded, response_model=ServedStatus)
    def get_status(name: str) -> Response:
        return status_response(name)

    @app.post("/runs/{name}/step", status_code=202, dependencies=guarded, response_model=ServedStatus)
    def step(name: str) -> Response:
        registry.step(name)
        return status_response(name, 202)

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

    def known_run(name: str) -> str:
        registry.get(name)  # an unknown run is a 404 before the stream starts
        return name

    @app.get("/runs/{name}/events", dependencies=guarded, response_class=EventSourceResponse)
    async def events(request: Request, name: str = Depends(known_run)) -> AsyncIterator[ServerSentEvent]:
        """Server-sent events (FastAPI's own): the run's status each time it changes, until the client leaves."""
        last = None
        while not await request.is_disconnected():
            text = (await asyncio.to_thread(status_of, name)).model_dump_json()
            if text != last:
                last = text
                yield ServerSentEvent(raw_data=text)
            await asyncio.sleep(0.5)

    return app
