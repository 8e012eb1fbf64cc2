"""The exception tree of labelgraph, in one place.

Every error a user can cause derives from :class:`LabelgraphError`; its message says what failed
and where (file, line, field), and the CLI prints it without a traceback.

    LabelgraphError
    ├── ConfigError        a project file or option is invalid
    ├── DataError          a data file (pool, seed, test, answers) is malformed
    ├── ReviewError        an answer does not fit the pending reviews
    │   └── ConflictError  the item was already answered or committed
    ├── RunError           a run folder is incomplete or in the wrong state
    │   ├── RunNotFound    there is no such run
    │   └── RunDamaged     a file of the run folder is damaged (named, with what can be done)
    └── PluginError        a dotted path or entry point does not resolve to a usable plug-in
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConflictError",
    "DataError",
    "LabelgraphError",
    "PluginError",
    "ReviewError",
    "RunDamaged",
    "RunError",
    "RunNotFound",
]


class LabelgraphError(Exception):
    """Base class of every error a user can cause."""


class ConfigError(LabelgraphError):
    """A project file or option is invalid."""


class DataError(LabelgraphError):
    """A data file is malformed; the message names the file, the line and the field."""

    def __init__(self, message: str, *, path: object = None, line: int | None = None, field: str | None = None):
        where = ", ".join(
            part
            for part in (
                str(path) if path is not None else "",
                f"line {line}" if line is not None else "",
                f"field {field!r}" if field is not None else "",
            )
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)
        self.path, self.line, self.field = path, line, field


class ReviewError(LabelgraphError):
    """An answer names an item that is not pending, or a label outside the label set."""


class ConflictError(ReviewError):
    """The item was already answered by someone else, or already committed."""


class RunError(LabelgraphError):
    """A run folder is missing, incomplete, or not in a state that allows the action."""


class RunNotFound(RunError):
    """There is no run by that name or in that folder."""


class PluginError(LabelgraphError):
    """A dotted path or entry point does not resolve to a usable plug-in."""


class RunDamaged(RunError):
    """A file of a run folder cannot be read as what it should be; the message names it and what can be done."""
