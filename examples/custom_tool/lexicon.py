"""A custom tool for labelgraph: a sentiment word list that labels a text, or abstains.

Name it in a project file, as a labelling function whose vote the annotator and the critic weigh:

    tools:
      - {path: examples.custom_tool.lexicon:sentiment_lexicon, vote: true}

(the folder that holds ``examples/`` must be importable: run labelgraph from the repository root, or install
your tools as a package). An LLM annotator may also call it as an ordinary tool.
"""

from __future__ import annotations

import re

from langchain_core.tools import tool

POSITIVE = {
    "great",
    "wonderful",
    "delightful",
    "masterpiece",
    "moving",
    "funny",
    "best",
    "beautiful",
    "brilliant",
    "good",
    "fun",
    "enjoyable",
    "charming",
    "love",
    "loved",
    "touching",
    "powerful",
    "smart",
    "engaging",
    "entertaining",
    "fascinating",
    "remarkable",
    "impressive",
    "solid",
    "fresh",
    "intelligent",
    "compelling",
    "gorgeous",
    "heartfelt",
    "rich",
    "witty",
}
NEGATIVE = {
    "dull",
    "boring",
    "bad",
    "worst",
    "mess",
    "tedious",
    "unfunny",
    "awful",
    "lifeless",
    "waste",
    "poor",
    "stupid",
    "flat",
    "lame",
    "fails",
    "mediocre",
    "tired",
    "predictable",
    "pointless",
    "bland",
    "silly",
    "ugly",
    "annoying",
    "pretentious",
    "shallow",
    "clumsy",
    "forgettable",
    "disappointing",
    "mindless",
}


@tool
def sentiment_lexicon(text: str) -> str:
    """Label a movie review 'positive' or 'negative' from a word list; an empty answer means no opinion."""
    words = re.findall(r"[a-z']+", text.lower())
    score = sum(word in POSITIVE for word in words) - sum(word in NEGATIVE for word in words)
    return "positive" if score > 0 else "negative" if score < 0 else ""
