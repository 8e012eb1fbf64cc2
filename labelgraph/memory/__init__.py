"""The shared vector memory of everything labelled so far (Chroma, embedded or server)."""

from labelgraph.memory.store import Memory, Neighbour

__all__ = ["Memory", "Neighbour"]
