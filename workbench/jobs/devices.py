"""Which GPUs a heavy job gets when it starts: one free GPU, or every GPU for a run across several processes.

On a machine with one GPU or none there is one device and heavy jobs take turns, as they always did. With
several GPUs each heavy job that wants one device (an experiment's run, an evaluation, a publish) is pinned to
a free GPU through `CUDA_VISIBLE_DEVICES`, so a sweep trains one run per GPU at a time; a training run across
several processes waits until every GPU it needs is free. The GPUs a job was given are kept in its args
(`gpus`), which is how the next `schedule()` knows they are taken.
"""

from __future__ import annotations

import json

from workbench import system

ALL = "all"  # a running heavy job that was given no GPU of its own holds the whole device


def gpu_count() -> int:
    """GPUs visible to this process (0 without CUDA; read without loading torch where no driver is there)."""
    if not system.may_have_cuda():
        return 0
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def wanted(job: dict) -> int:
    """How many GPUs the job needs: its training processes (one per GPU), else one."""
    args = json.loads(job.get("args_json") or "{}")
    return max(1, int(args.get("processes") or 1))


def held(job: dict, count: int) -> set[int]:
    """The GPUs a running heavy job holds: those it was given, or all of them when it was given none."""
    given = json.loads(job.get("args_json") or "{}").get("gpus")
    if given is None or given == ALL:
        return set(range(max(count, 1)))
    return {int(gpu) for gpu in str(given).split(",") if gpu != ""}


def chosen(job: dict) -> list[int]:
    """The GPUs the user chose for the job (`TrainConfig.gpus`), [] for any."""
    return [int(gpu) for gpu in json.loads(job.get("args_json") or "{}").get("chosen_gpus") or []]


def assign(job: dict, busy: set[int], count: int) -> str | None:
    """The GPUs to give `job` now ("0", "1,2"; ALL where there is one device or none), or None: it must wait."""
    if count <= 1:
        return None if busy else ALL
    pool = chosen(job) or list(range(count))
    free = [gpu for gpu in pool if gpu not in busy and gpu < count]
    need = min(wanted(job), len(pool))
    if len(free) < need:
        return None
    return ",".join(str(gpu) for gpu in free[:need])


def environment(gpus: str) -> dict[str, str]:
    """What the worker's environment gets for the GPUs it was given (nothing where it holds the whole device)."""
    return {} if gpus == ALL else {"CUDA_VISIBLE_DEVICES": gpus}


def waiting_words(count: int) -> str:
    if count <= 1:
        return "one job uses the device at a time"
    return f"each of the {count} GPUs runs one job at a time"
