"""Background work as jobs: one table, one lifecycle, one queue and one worker entry point for training,
evaluation, Ollama publishes, GGUF exports and model preparation (see docs/ARCHITECTURE.md)."""
