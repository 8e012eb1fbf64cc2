"""Stand-ins for I/O ports, for tests and benchmarks: a scripted OpenAI-compatible server."""

from labelgraph.testing.scripted_llm import Fault, ScriptedLLM

__all__ = ["Fault", "ScriptedLLM"]
