"""The runs a service holds: one folder each under the service's runs folder, one stepping thread per run.

Only project files inside the folders the service was given may be opened: regular files of at most 1 MB.
A run's status is computed once per checkpoint and kept (answers are read fresh each time): many reviewers
polling cost one status a node, not one a request. While a node works, its counts and cost show at its end.
"""

from __future__ import annotations

import os
import re
import stat
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from labelgraph.config import load_project
from labelgraph.errors import ConfigError, RunNotFound
from labelgraph.session.run import Run, RunStatus, check_plugins
from labelgraph.session.workspace import RUN_FILE, Workspace

Key = tuple[tuple[str, int] | None, bool]
UNSETTLED = frozenset({"running", "interrupted"})
"""Phases that turn on whether some process holds the run, which no checkpoint records: never reused."""

__all__ = ["PROJECT_LIMIT", "ProjectRefused", "RunRegistry", "project_file"]

PROJECT_LIMIT = 1_000_000
"""Bytes a project file may have."""
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
"""A run name the service serves: a project name of at most 100 characters."""


class ProjectRefused(ConfigError):
    """The project file is outside the folders the service may open."""


def shown(given: str) -> str:
    """The path as a client gave it, cut short and safe to print."""
    return ascii(given if len(given) <= 120 else given[:120] + "...")


def inside(path: Path, folders: Sequence[Path]) -> bool:
    return any(path == folder or path.is_relative_to(folder) for folder in folders)


def project_file(given: str, folders: Sequence[Path]) -> Path:
    """The real path of the project file ``given`` (relative to the first folder), if it lies inside one of
    ``folders`` (after symlinks too) and is a regular file of at most PROJECT_LIMIT bytes."""
    if not given.strip() or "\x00" in given or len(given) > 4096:
        raise ConfigError("project: give the path of a project file (at most 4,096 characters, no NUL)")
    path = Path(os.path.abspath(folders[0] / given))
    refused = ProjectRefused(
        f"project {shown(given)}: only project files inside {', '.join(map(str, folders))} may be opened"
        " (labelgraph serve --projects DIR)"
    )
    if not inside(path, folders):
        raise refused
    try:
        real = Path(os.path.realpath(path, strict=True))
        info = os.stat(real)
    except (OSError, RuntimeError) as error:
        raise ConfigError(f"project {shown(given)}: cannot be opened ({getattr(error, 'strerror', error)})") from None
    if not inside(real, folders):  # a symlink out of the folder
        raise refused
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"project {shown(given)}: not a regular file (a project is a YAML file)")
    if info.st_size > PROJECT_LIMIT:
        raise ConfigError(f"project {shown(given)}: {info.st_size:,} bytes, over the limit of {PROJECT_LIMIT:,}")
    return real


def with_answers(run: Run, status: RunStatus) -> RunStatus:
    """``status`` with the answers stored since it was computed (they change no checkpoint)."""
    waiting = [*status.pending, *status.answered]
    answered = run.answered(waiting)
    if set(answered) == set(status.answered):
        return status
    return status.model_copy(
        update={
            "pending": [item for item in waiting if item not in answered],
            "answered": [item for item in waiting if item in answered],
        }
    )


class RunRegistry:
    """Open runs by name. Steps run one at a time per run, off the request threads; answers never wait."""

    def __init__(self, root: Path, projects: Sequence[Path]):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.projects = [Path(os.path.realpath(folder)) for folder in projects]
        self._runs: dict[str, Run] = {}
        self._steppers: dict[str, ThreadPoolExecutor] = {}
        self._stepping: dict[str, Future] = {}
        self._again: set[str] = set()
        self._errors: dict[str, str] = {}
        self._creating: dict[str, threading.Lock] = {}
        self._statuses: dict[str, tuple[Key, RunStatus]] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if (p / RUN_FILE).exists())

    def updated(self, name: str) -> datetime | None:
        """When a file directly in the run's folder last changed (None if none can be read)."""
        try:
            with os.scandir(self.root / name) as entries:
                latest = max((entry.stat(follow_symlinks=False).st_mtime for entry in entries), default=None)
        except OSError:  # removed meanwhile
            return None
        return datetime.fromtimestamp(latest, UTC) if latest is not None else None

    def resume_waiting(self) -> list[str]:
        """Step every run whose answers wait for a commit that no step is making (the service, or a command, was
        stopped between a round's last answer and its commit); return their names. Called as the service starts."""
        resumed = []
        for name in self.names():
            try:
                waiting = self.get(name).answers_to_commit()
            except Exception:  # an unreadable run: the run list shows its error
                continue
            if waiting:
                self.step(name)
                resumed.append(name)
        return resumed

    def create(self, project: str) -> Run:
        """A run of the project file, in ``ROOT/<project name>`` (reopened if it exists with the same settings)."""
        path = project_file(project, self.projects)
        try:
            config = load_project(path)
        except OSError as error:  # e.g. a name too long for a file name
            raise ConfigError(f"project {shown(project)}: cannot be read ({error.strerror or error})") from None
        if not NAME.fullmatch(config.name):
            raise ConfigError(f"name: {len(config.name)} characters is too long (a served run's name: at most 100)")
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
                if not NAME.fullmatch(name) or not (self.root / name / RUN_FILE).exists():
                    raise RunNotFound(f"no run named {shown(name)}")
                self._runs[name] = Run.open(self.root / name)
            return self._runs[name]

    def step(self, name: str) -> None:
        """Advance the run in the background, unless it is already advancing."""
        run = self.get(name)
        with self._lock:
            busy = self._stepping.get(name)
            if busy is not None and not busy.done():
                self._again.add(name)  # answers came while it works: it steps once more before it ends
                return
            executor = self._steppers.setdefault(name, ThreadPoolExecutor(1, thread_name_prefix=f"step-{name}"))
            self._errors.pop(name, None)
            self._again.discard(name)
            self._stepping[name] = executor.submit(self._step, name, run)

    def _step(self, name: str, run: Run) -> None:
        try:
            while True:
                run.step()  # it takes a batch answered whole while it worked, at its pause
                # a step asked for meanwhile (answers completing a batch after that) steps once more; checked under
                # the lock ``step`` checks busy under, so a later one finds this step gone and starts the next
                with self._lock:
                    if name not in self._again:
                        self._stepping.pop(name, None)
                        return
                    self._again.discard(name)
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
        """The run's status: computed again only when its checkpoint (or whether it is advancing) changed."""
        run = self.get(name)
        busy = self.busy(name)
        key: Key = (run.checkpoint_version(), busy)  # read before the status: never a newer status, older key
        with self._lock:
            kept = self._statuses.get(name)
        if kept is not None and kept[0] == key and (busy or kept[1].phase not in UNSETTLED):
            return with_answers(run, kept[1])
        status = run.status()
        with self._lock:
            self._statuses[name] = (key, status)
        return status

    def close(self) -> None:
        for executor in self._steppers.values():
            executor.shutdown(wait=True)
        for run in self._runs.values():
            run.close()
