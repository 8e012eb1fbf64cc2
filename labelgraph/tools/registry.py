"""Resolve the project's ``tools`` into LangChain tools, and run the voting ones as labelling functions.

tools:
  - search_memory                          # built in
  - mypkg.tools:lookup                     # a @tool function or BaseTool, by dotted path
  - {path: mypkg.lfs:refund_words, vote: true}   # a labelling function: a label, or nothing to abstain
  - sentiment_lexicon                      # published under the entry-point group labelgraph.tools
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.tools import BaseTool, tool

from labelgraph.config import ToolSettings
from labelgraph.errors import PluginError
from labelgraph.memory import Memory
from labelgraph.plugins import entry_point_objects, load_object
from labelgraph.tools.builtin import memory_search_tool

__all__ = ["LoadedTools", "load_tools", "tool_votes"]

ENTRY_POINTS = "labelgraph.tools"


@dataclass
class LoadedTools:
    """Tools for the LLM agents to call, and the subset that vote on labels."""

    tools: list[BaseTool] = field(default_factory=list)
    voters: list[BaseTool] = field(default_factory=list)


def _as_tool(found: Any, spec: str) -> BaseTool:
    if isinstance(found, BaseTool):
        return found
    if callable(found):
        return tool(found)
    raise PluginError(f"tool {spec!r} is neither a LangChain tool nor a function")


def load_tools(settings: list[ToolSettings], *, memory: Memory | None) -> LoadedTools:
    """Every named tool, resolved; PluginError quotes a name that resolves to nothing usable.

    ``memory`` backs ``search_memory``; None only checks the names."""
    loaded = LoadedTools()
    published: dict[str, Any] | None = None
    for one in settings:
        if one.path == "search_memory":
            if memory is None:
                continue
            found: Any = memory_search_tool(memory)
        elif ":" in one.path or "." in one.path:
            found = load_object(one.path, kind="tool")
        else:
            published = published if published is not None else entry_point_objects(ENTRY_POINTS)
            if one.path not in published:
                known = ", ".join(sorted(published)) or "none installed"
                raise PluginError(f"unknown tool {one.path!r} (entry points in {ENTRY_POINTS!r}: {known})")
            found = published[one.path]
        made = _as_tool(found, one.path)
        loaded.tools.append(made)
        if one.vote:
            loaded.voters.append(made)
    return loaded


def tool_votes(voters: list[BaseTool], text: str, labels: list[str], on_error: Callable[[str], None]) -> dict[str, str]:
    """Each voting tool's label for ``text``; an abstention, an unknown label or an error casts no vote."""
    votes = {}
    for voter in voters:
        try:
            answer = voter.invoke({next(iter(voter.args), "text"): text})
        except Exception as error:  # a broken plug-in must not stop the round; its failure is reported
            on_error(f"tool {voter.name!r} failed: {type(error).__name__}: {error}")
            continue
        if isinstance(answer, str) and answer in labels:
            votes[voter.name] = answer
    return votes
