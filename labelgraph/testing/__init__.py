"""Stand-ins for I/O ports, for tests and benchmarks: a scripted OpenAI-compatible server."""

from labelgraph.testing.scripted_llm import Fault, ScriptedAnswer, ScriptedLLM

__all__ = ["Fault", "ScriptedAnswer", "ScriptedLLM"]
