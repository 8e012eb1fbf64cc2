"""``python -m labelgraph.cli``: the ``labelgraph`` command."""

from labelgraph.cli.app import main

main()
