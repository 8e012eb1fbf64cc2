"""A run as a user holds it: ``Project`` and ``Run`` (run.py), the run folder (workspace.py), the parts a project
names, built (wiring.py), and what a run will cost before it starts (plan.py)."""
