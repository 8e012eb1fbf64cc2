"""Selection strategies behind one protocol; pick one by name or by ``module:Class`` path."""

from __future__ import annotations

from labelgraph.errors import PluginError
from labelgraph.plugins import load_object
from labelgraph.strategies.base import IncrementalStrategy, PoolInput, SelectionInput, Strategy
from labelgraph.strategies.diversity import ColdStart, KCenterGreedy, RandomSelection, k_center_greedy
from labelgraph.strategies.hybrid import Hybrid
from labelgraph.strategies.uncertainty import Entropy, LeastConfidence, Margin

__all__ = [
    "STRATEGIES",
    "IncrementalStrategy",
    "PoolInput",
    "SelectionInput",
    "Strategy",
    "get_strategy",
    "k_center_greedy",
]

STRATEGIES: dict[str, type] = {
    cls.name: cls for cls in (RandomSelection, LeastConfidence, Margin, Entropy, KCenterGreedy, Hybrid, ColdStart)
}


def get_strategy(spec: str) -> Strategy:
    """A built-in strategy by name (``random``, ``margin``, ``coreset``, ...) or a plug-in by dotted path."""
    if spec in STRATEGIES:
        return STRATEGIES[spec]()
    if ":" not in spec and "." not in spec:
        raise PluginError(f"unknown strategy {spec!r} (built in: {', '.join(STRATEGIES)}; or 'module:Class')")
    found = load_object(spec, kind="strategy")
    strategy = found() if isinstance(found, type) else found
    if not isinstance(strategy, Strategy):
        raise PluginError(f"strategy {spec!r} has no name and select(data, k, rng)")
    return strategy
