"""Texts to vectors: the encoders a project can name (encoders.py), the sentence-transformers embedder
(embedders.py), the machine's embedding cache (cache.py) and embedding over a Ray cluster (fanout.py)."""
