"""Evaluation: per-row and aggregate metrics comparing base and adapter outputs."""
