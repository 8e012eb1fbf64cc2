"""Simulated active learning on datasets with gold labels: the real loop, a simulated person, learning curves."""
