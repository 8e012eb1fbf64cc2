"""The runs a service holds: one folder each under the service's runs folder, one stepping thread per run."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from labelgraph.config import load_project
from labelgraph.errors import RunNotFound
from labelgraph.run import Run, RunStatus, check_plugins
from labelgraph.workspace import RUN_FILE, Workspace

__all__ = ["RunRegistry"]


class RunRegistry:
    """Open runs by name. Steps run one at a time per run, off the request threads; answers never wait."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._runs: dict[str, Run] = {}
        self._steppers: dict[str, ThreadPoolExecutor] = {}
        self._stepping: dict[str, Future] = {}
        self._errors: dict[str, str] = {}
        self._creating: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if (p / RUN_FILE).exists())

    def create(self, project: Path) -> Run:
        """A run of the project file, in ``ROOT/<project name>`` (reopened if it exists with the same settings)."""
        config = load_project(project)
        config = config.model_copy(update={"run_dir": self.root / config.name})
        with self._lock:
            creating = self._creating.setdefault(config.name, threading.Lock())
        with creating:  # embedding a new pool blocks only this run's creation, not other requests
            check_plugins(config)  # a typo fails before the run folder exists
            workspace = Workspace.create(config)  # refuses a project whose settings changed
            with self._lock:
                if config.name not in self._runs:
                    self._runs[config.name] = Run(workspace)
                return self._runs[config.name]

    def get(self, name: str) -> Run:
        with self._lock:
            if name not in self._runs:
                folder = self.root / name
                if "/" in name or name.startswith(".") or not (folder / RUN_FILE).exists():
                    raise RunNotFound(f"no run named {name!r}")
                self._runs[name] = Run.open(folder)
            return self._runs[name]

    def step(self, name: str) -> None:
        """Advance the run in the background, unless it is already advancing."""
        run = self.get(name)
        with self._lock:
            busy = self._stepping.get(name)
            if busy is not None and not busy.done():
                return
            executor = self._steppers.setdefault(name, ThreadPoolExecutor(1, thread_name_prefix=f"step-{name}"))
            self._errors.pop(name, None)
            self._stepping[name] = executor.submit(self._step, name, run)

    def _step(self, name: str, run: Run) -> None:
        try:
            while True:
                before = [item.id for item in run.pending_reviews(include_answered=True)]
                status = run.step()
                # answers that completed the queue while this step ran found it busy: take them now
                after = [item.id for item in run.pending_reviews(include_answered=True)]
                if status.phase != "paused" or after == before or run.pending_reviews():
                    return
        except Exception as error:  # reported by status(); the run's checkpoint is intact
            self._errors[name] = f"{type(error).__name__}: {error}"
            raise

    def busy(self, name: str) -> bool:
        future = self._stepping.get(name)
        return future is not None and not future.done()

    def wait(self, name: str, timeout: float | None = None) -> None:
        future = self._stepping.get(name)
        if future is not None:
            future.exception(timeout=timeout)

    def error(self, name: str) -> str | None:
        return self._errors.get(name)

    def status(self, name: str) -> RunStatus:
        return self.get(name).status()

    def close(self) -> None:
        for executor in self._steppers.values():
            executor.shutdown(wait=True)
        for run in self._runs.values():
            run.close()
