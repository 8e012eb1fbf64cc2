"""The HTTP service: runs, reviews and exports over a FastAPI app, and the review page."""
