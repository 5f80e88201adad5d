"""Answering a whole file of inputs with a base or an adapter, as a job."""
