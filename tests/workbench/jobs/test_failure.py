"""Why a job failed, in plain words."""

from workbench.jobs.failure import OOM_REASON, failure_reason, traceback_tail
from workbench.training.data import TrainingError


def test_failure_reasons_are_plain_words():
    import torch

    assert failure_reason(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")) == OOM_REASON
    wrapped = RuntimeError("step failed")
    wrapped.__cause__ = RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB")
    assert failure_reason(wrapped) == OOM_REASON
    assert failure_reason(TrainingError("The dataset is too small: add rows.")) == "The dataset is too small: add rows."
    assert failure_reason(ValueError("bad value\nmore detail")) == "ValueError: bad value"
    assert failure_reason(KeyboardInterrupt()) == "Stopped from the keyboard (Ctrl+C)."


def test_the_traceback_tail_ends_with_the_error():
    try:
        raise ValueError("the last line")
    except ValueError as exc:
        tail = traceback_tail(exc)
    assert tail.splitlines()[-1] == "ValueError: the last line" and len(tail.splitlines()) <= 20
