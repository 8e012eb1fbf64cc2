"""Tools labelgraph brings: ``search_memory`` finds the labelled items most similar to a text."""

from __future__ import annotations

from langchain_core.tools import BaseTool, tool

from labelgraph.memory import Memory

__all__ = ["memory_search_tool"]


def memory_search_tool(memory: Memory, k: int = 5) -> BaseTool:
    """A tool over this run's memory: the ``k`` labelled items most similar to a query, with their labels."""

    @tool
    def search_memory(query: str) -> str:
        """Find labelled examples similar to the query text; returns one 'label<TAB>similarity<TAB>text' a line."""
        found = memory.search(query, k)
        return "\n".join(f"{n.label}\t{n.similarity:.2f}\t{n.text}" for n in found) or "(no labelled examples yet)"

    return search_memory
