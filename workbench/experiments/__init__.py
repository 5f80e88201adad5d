"""Experiments: sweeps of training settings, run as one group and ranked by the held-out score."""
