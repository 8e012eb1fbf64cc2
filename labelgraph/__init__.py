"""labelgraph: LLM-based active learning on a LangGraph state machine (``labelgraph --help`` for the command).

``labelgraph.load_model(FOLDER)`` loads a student written by ``labelgraph export --model``. Names are imported at
their first use, so ``import labelgraph`` (and the command's start) stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labelgraph.student_model import load_model

__all__ = ["load_model"]

_LAZY = {"load_model": "labelgraph.student_model"}
"""Public names, and the module each comes from."""


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'labelgraph' has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value  # the next use finds it without this call
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
