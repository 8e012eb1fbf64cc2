"""Plug-in tools: LangChain tools named in the project file or published under the entry points ``labelgraph.tools``."""

from labelgraph.tools.registry import LoadedTools, load_tools, tool_votes

__all__ = ["LoadedTools", "load_tools", "tool_votes"]
