"""The critic: signals of every machine label, their calibration into ``p_correct``, the person's batch drawn by
design, and the acceptance of machine labels under the quality target. Plain functions over arrays; the graph's
nodes call them through ``labelgraph.critic.rounds``."""
