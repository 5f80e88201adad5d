"""The base of every error the workbench raises on purpose: its message says the cause and the fix.

A job that fails with one of these shows the message as it is; any other exception is reduced to one
plain line (see `workbench.jobs.failure`).
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """An operation that cannot be done; the message says why and what to do."""
