"""Chat models: the client (retries, bounded concurrency, the response cache, the cost ledger) and the agents'
prompts."""
