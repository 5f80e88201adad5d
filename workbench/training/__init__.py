"""Training: TrainConfig, the worker process, metrics callback, queue and memory estimate."""
