"""Base models: the built-in demo model, prepared local models and resolving/loading a base.

Importing this package is cheap: torch and transformers are imported only by the functions that need them.
"""
