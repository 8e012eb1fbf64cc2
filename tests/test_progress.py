"""Progress of long steps: plain lines in logs, a bar on a terminal, silence when asked; the embedder reports it."""

from __future__ import annotations

import asyncio
import itertools

import numpy as np
import pytest

from labelgraph import progress
from labelgraph.encoding.embedders import SentenceTransformerEmbedder


@pytest.fixture
def clock(monkeypatch):
    """Each reading of the clock is two seconds after the last."""
    ticks = itertools.count(0, 2.0)
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(ticks))


def test_plain_lines_at_each_tenth_with_rate_and_eta(monkeypatch, capsys, clock):
    monkeypatch.setenv("LABELGRAPH_PROGRESS", "plain")
    with progress.task("embedding", total=100) as advance:
        for _ in range(20):
            advance(5)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "embedding: 100 to do"
    assert lines[1].startswith("embedding: 10/100 (10%), ") and ", ETA " in lines[1]
    assert len(lines) == 1 + 9 + 1  # the start, each tenth before the end, and the end
    assert lines[-1].startswith("embedding: 100/100 done in ")


def test_plain_lines_are_few_for_a_fast_step(monkeypatch, capsys):
    monkeypatch.setenv("LABELGRAPH_PROGRESS", "plain")
    with progress.task("embedding", total=1000) as advance:
        for _ in range(1000):
            advance()
    assert len(capsys.readouterr().err.splitlines()) == 2  # started, done: no line a tenth within a second


def test_slow_items_are_counted_in_seconds_each(monkeypatch, capsys, clock):
    monkeypatch.setenv("LABELGRAPH_PROGRESS", "plain")
    with progress.task("eval runs", total=3) as advance:
        advance()
    assert "s each, ETA " in capsys.readouterr().err.splitlines()[1]


def test_off_says_nothing_and_gather_keeps_the_order(monkeypatch, capsys):
    monkeypatch.setenv("LABELGRAPH_PROGRESS", "off")

    async def late(n: int) -> int:
        await asyncio.sleep(0.001 * (5 - n))
        return n

    assert asyncio.run(progress.gather("labelling", *(late(n) for n in range(5)))) == [0, 1, 2, 3, 4]
    assert capsys.readouterr().err == ""


def test_a_bar_on_a_terminal_with_nested_steps(monkeypatch, capsys):
    monkeypatch.delenv("LABELGRAPH_PROGRESS", raising=False)
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich takes stderr for a terminal
    with progress.task("eval runs", total=2) as outer:
        for _ in range(2):
            with progress.task("embedding", total=10) as inner:
                inner(10)
            outer()
    err = capsys.readouterr().err
    assert "eval runs" in err and "2/2" in err and "ETA" in err
    assert progress._bar is None  # the display is stopped with the last step


class FakeModel:
    """Vectors that name their text: its length, and its number in the input."""

    def get_embedding_dimension(self) -> int:
        return 2

    def encode(self, texts, **options):
        return np.array([[len(text), int(text.split()[-1])] for text in texts], dtype=np.float32)


def test_the_embedder_reports_progress_and_keeps_the_order(monkeypatch, capsys):
    monkeypatch.setenv("LABELGRAPH_PROGRESS", "plain")
    monkeypatch.delenv("LABELGRAPH_VECTOR_CACHE", raising=False)
    embedder = SentenceTransformerEmbedder("minilm", batch_size=4)  # nothing loads until asked
    embedder._model = FakeModel()
    texts = [f"{'word ' * (n % 7)}text {n}" for n in range(50)]
    vectors = embedder.embed(texts)
    assert vectors.tolist() == [[len(text), n] for n, text in enumerate(texts)]
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "embedding: 50 to do" and lines[-1].startswith("embedding: 50/50 done in ")
    embedder.embed(texts[:8])  # two batches or fewer: no progress to show
    assert capsys.readouterr().err == ""


def test_a_vector_cache_embeds_each_text_once(monkeypatch, tmp_path):
    """``LABELGRAPH_VECTOR_CACHE``: every embed call goes through the embedding cache (``FILE.d``), by text and
    model."""
    monkeypatch.setenv("LABELGRAPH_VECTOR_CACHE", str(tmp_path / "vectors.sqlite"))
    monkeypatch.setenv("LABELGRAPH_PROGRESS", "off")
    encoded: list[str] = []

    class Counting(FakeModel):
        def encode(self, texts, **options):
            encoded.extend(texts)
            return super().encode(texts, **options)

    first = SentenceTransformerEmbedder("minilm", batch_size=4)
    first._model = Counting()
    texts = [f"text {n}" for n in range(10)]
    assert first.embed(texts[:6]).tolist() == [[len(t), n] for n, t in enumerate(texts[:6])]
    again = SentenceTransformerEmbedder("minilm", batch_size=4)  # another process, as it were: no model loads
    assert again.embed(texts[:6]).tolist() == first.embed(texts[:6]).tolist() and again._model is None
    assert encoded == texts[:6]
    # another list: only the texts the cache lacks reach the model (a text's vector does not depend on its batch)
    assert first.embed(texts[4:]).tolist() == [[len(t), n] for n, t in enumerate(texts)][4:]
    assert encoded == texts[:6] + texts[6:]
    assert (tmp_path / "vectors.sqlite.d").is_dir()
    other = SentenceTransformerEmbedder("another-model", batch_size=4)
    other._model = Counting()
    other.embed(texts[:6])
    assert encoded == texts + texts[:6]  # by model too
