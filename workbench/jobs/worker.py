"""The one worker entry point: run a job of any kind in this process and record how it ended.

    python -m workbench.jobs.worker JOB_ID        (started detached by the queue; output goes to the job's log)

It marks the job running, calls its kind's handler (below: each does only that kind's work and returns
its final status and result), and records completed / cancelled, or failed with a plain reason and the
traceback tail, or interrupted on Ctrl+C; then it lets the queue start what waits. The CLI runs jobs in
the foreground through `run()` too. Under `accelerate launch` every process runs the handler and only
process 0 writes to the registry.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Callable

from workbench import logs
from workbench.jobs import kinds, queue, registry
from workbench.jobs.failure import failure_reason, traceback_tail

# kind -> "module:function" (declared in jobs/kinds.py); a handler takes the job row and returns (status, result).
HANDLERS = {kind.name: kind.handler for kind in kinds.DECLARED}
# kind -> "module:function" called with the job row once a job of that kind has completed.
FOLLOW_UPS = {kind.name: kind.follow_up for kind in kinds.DECLARED if kind.follow_up}
Handler = Callable[[dict], tuple[str, dict]]


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def lost_a_peer(exc: BaseException) -> bool:
    """A run in several processes whose communication broke: another of its processes died (the run is
    interrupted, resumable, not failed in itself)."""
    if int(os.environ.get("WORLD_SIZE", "1")) < 2:
        return False
    text = f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
    return "torch.distributed" in text or any(
        sign in text for sign in ("gloo", "NCCL", "Connection reset by peer", "Connection closed by peer")
    )


def handler_for(kind: str) -> Handler:
    return _resolve(HANDLERS[kind])


def _resolve(target: str) -> Callable:
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)


def run(job_id: int, handler: Handler | None = None, *, schedule_next: bool = True) -> str:
    """Run job `job_id` here; returns its final status. `handler` replaces the kind's own (tests)."""
    main = is_main_process()
    try:
        job = registry.get(job_id)
    except registry.JobError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return "failed"
    status = job["status"]
    try:
        if status == "cancelling":  # cancelled before the worker got going
            if main:
                registry.finish(job_id, "cancelled", progress={**registry.progress(job), "phase": "done"})
            print(f"{job['title']}: cancelled before it started.", flush=True)
            return "cancelled"
        if status not in ("queued", "running"):
            print(f"{job['title']} is {status}; nothing to do.", flush=True)
            return status
        if main:
            registry.mark_running(job_id)
        status, result = (handler or handler_for(job["kind"]))(registry.get(job_id))
        if main:
            registry.finish(
                job_id, status, result=result, progress={**registry.progress(registry.get(job_id)), "phase": "done"}
            )
    except BaseException as exc:
        interrupted = isinstance(exc, KeyboardInterrupt)
        status = "interrupted" if interrupted or lost_a_peer(exc) else "failed"
        reason, tail = failure_reason(exc), traceback_tail(exc)
        if lost_a_peer(exc):
            reason = (
                f"another process of this run stopped (killed or crashed), so it stopped too ({reason}). "
                f"{kinds.recovery(job['kind'])}"
            )
        print(f"\n{job['title']} failed: {reason}\n{tail}", file=sys.stderr, flush=True)
        if main:
            registry.finish(
                job_id,
                status,
                error=f"{reason}\n\n{tail}",
                progress={**registry.progress(registry.get(job_id)), "phase": "failed"},
            )
        if interrupted:
            raise
    finally:
        if main and schedule_next:
            if status == "completed" and job["kind"] in FOLLOW_UPS:
                _follow_up(job)
            _schedule_next()
    return status


def _follow_up(job: dict) -> None:
    """What comes after a completed job of this kind (never changes its outcome)."""
    try:
        _resolve(FOLLOW_UPS[job["kind"]])(registry.get(job["id"]))
    except Exception as exc:
        print(f"After {job['title']}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)


def _schedule_next() -> None:
    """The device is free again: start what waits (never changes this job's outcome)."""
    try:
        queue.schedule()
    except Exception as exc:  # the app's next look at the queue starts it later
        print(f"Could not start the next queued job: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)


def quiet_libraries() -> None:
    """No tqdm bars or known-harmless warnings in a job's log: the handlers print readable progress lines."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logs.quiet_known_notices()
    # Raised inside peft's get_peft_model with transformers 5 (an alias rename); nothing to act on in a log.
    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
    try:
        import datasets
        from transformers.utils import logging as hf_logging

        datasets.disable_progress_bars()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m workbench.jobs.worker",
        description="Run one LoRA Workbench job (the app and the CLI start this).",
    )
    parser.add_argument("job_id", type=int, help="id of the job in the registry (table jobs)")
    args = parser.parse_args(argv)
    quiet_libraries()
    status = run(args.job_id)
    return 0 if status in ("completed", "cancelled") else 1


if __name__ == "__main__":
    sys.exit(main())
