"""Where a run's data lives: the item store (texts), the label store (labels, verdicts, answers and the inbox), the
generator's texts, and the one module that opens their SQLite files and PostgreSQL connections."""
