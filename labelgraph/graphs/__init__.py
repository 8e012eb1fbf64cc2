"""The LangGraph loop: state, run context, checkpoints and graph assembly."""
