"""The example tool's own test: run with  python -m pytest examples/custom_tool"""

from examples.custom_tool.lexicon import sentiment_lexicon


def test_votes_and_abstains():
    assert sentiment_lexicon.invoke({"text": "A brilliant, moving film."}) == "positive"
    assert sentiment_lexicon.invoke({"text": "Dull and lifeless; a waste."}) == "negative"
    assert sentiment_lexicon.invoke({"text": "It is a film about a train."}) == ""
