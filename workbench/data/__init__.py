"""Datasets: formats, parsing, validation, statistics, splits and revisions."""
