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

from labelgraph import errors as _errors  # the errors are light: standard library only

if TYPE_CHECKING:
    from labelgraph.session.run import Project, Run, RunStatus
    from labelgraph.student.folder import load_model

__all__ = ["Project", "Run", "RunStatus", "load_model", *_errors.__all__]

_LAZY = {"Project": "labelgraph.session.run", "Run": "labelgraph.session.run", "RunStatus": "labelgraph.session.run"}
_LAZY |= {"load_model": "labelgraph.student.folder", **dict.fromkeys(_errors.__all__, "labelgraph.errors")}
"""Public names, and the module each comes from."""


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'labelgraph' has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value  # the next use finds it without this call
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
