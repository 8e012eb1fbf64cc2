"""labelgraph: LLM-based active learning on a LangGraph state machine (``labelgraph --help`` for the command).

The public face: ``Project`` (a project file, ``Project.from_yaml(PATH).start()`` gives its ``Run``), ``Run``
(one run folder: ``step``, ``pending_reviews``, ``answer``, ``export``; ``Run.open(FOLDER)``), ``load_model``
(a student written by ``labelgraph export --model``) and the errors a user can cause, all under
``LabelgraphError``. Names are imported at their first use, so ``import labelgraph`` (and the command's start)
stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labelgraph.errors import (
        ConfigError,
        ConflictError,
        DataError,
        LabelgraphError,
        PluginError,
        ReviewError,
        RunDamaged,
        RunError,
        RunNotFound,
    )
    from labelgraph.run import Project, Run, RunStatus
    from labelgraph.student_model import load_model

__all__ = [
    "ConfigError",
    "ConflictError",
    "DataError",
    "LabelgraphError",
    "PluginError",
    "Project",
    "ReviewError",
    "Run",
    "RunDamaged",
    "RunError",
    "RunNotFound",
    "RunStatus",
    "load_model",
]

_HOMES = {"labelgraph.run": ("Project", "Run", "RunStatus"), "labelgraph.student_model": ("load_model",)}
_LAZY = {name: home for home, names in _HOMES.items() for name in names}
_LAZY.update({name: "labelgraph.errors" for name in __all__ if name not in _LAZY})
"""Public names, and the module each comes from (the rest of ``__all__`` are the errors)."""


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'labelgraph' has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value  # the next use finds it without this call
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
