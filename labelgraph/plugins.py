"""Resolve plug-ins named in a project file: ``package.module:attribute`` paths and entry points."""

from __future__ import annotations

import importlib
import os
import sys
from importlib.metadata import entry_points
from typing import Any

from labelgraph.errors import PluginError

__all__ = ["entry_point_objects", "load_object"]


def load_object(path: str, *, kind: str = "plug-in") -> Any:
    """Import ``module:attr`` (or ``module.attr``); raise PluginError quoting the path on failure."""
    module_name, sep, attribute = path.partition(":")
    if not sep:
        module_name, _, attribute = path.rpartition(".")
    if not module_name or not attribute:
        raise PluginError(f"{kind} {path!r} is not a dotted path like 'package.module:name'")
    if os.getcwd() not in sys.path:  # as with `python -m`: a module in the current folder is found
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise PluginError(f"{kind} {path!r}: cannot import {module_name!r} ({error})") from None
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise PluginError(f"{kind} {path!r}: {module_name!r} has no attribute {attribute!r}") from None
    return target


def entry_point_objects(group: str) -> dict[str, Any]:
    """Every object published under the entry-point ``group``, by name."""
    found = {}
    for point in entry_points(group=group):
        try:
            found[point.name] = point.load()
        except Exception as error:  # a broken third-party plug-in must name itself
            raise PluginError(f"entry point {point.name!r} in group {group!r} failed to load: {error}") from error
    return found
