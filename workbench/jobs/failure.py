"""Why a job failed, in one plain sentence, and the traceback tail that goes with it in the log."""

from __future__ import annotations

import traceback
from collections.abc import Iterator

from workbench.errors import WorkbenchError

OOM_REASON = "GPU out of memory: reduce max_length or batch size, or use QLoRA"
TRACEBACK_LINES = 20


def failure_reason(exc: BaseException) -> str:
    """Our own errors as they are (they say the fix); out-of-memory anywhere in the chain as OOM_REASON;
    anything else as the traceback's last line ("ValueError: …"), cut to its first line."""
    if isinstance(exc, KeyboardInterrupt):
        return "Stopped from the keyboard (Ctrl+C)."
    for error in _chain(exc):
        if _is_oom(error):
            return OOM_REASON
    if isinstance(exc, WorkbenchError):
        return str(exc)
    return "".join(traceback.format_exception_only(exc)).strip().splitlines()[0]


def traceback_tail(exc: BaseException) -> str:
    return "\n".join("".join(traceback.format_exception(exc)).rstrip().splitlines()[-TRACEBACK_LINES:])


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _is_oom(exc: BaseException) -> bool:
    text = str(exc)
    if "CUDA out of memory" in text or "CUBLAS_STATUS_ALLOC_FAILED" in text:
        return True
    return type(exc).__name__ == "OutOfMemoryError"  # torch.cuda.OutOfMemoryError, without importing torch
