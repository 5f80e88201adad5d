"""The evaluation worker: one process per job, started detached by the app (`runner.start_eval`).

    python -m workbench.evaluation.worker JOB_ID

It runs `runner.run_eval(JOB_ID)`: status, progress and results go to the registry; readable progress
lines go to stdout, which the launcher sends to `runs/<run name>/eval.log`. Exit status 0 when the job
completed or was cancelled, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbench.evaluation.worker",
                                     description="Run one LoRA Workbench evaluation job (the app starts this).")
    parser.add_argument("job_id", type=int, help="id of the job in the registry (table eval_jobs)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no tqdm bars in eval.log
    except ImportError:
        pass
    from workbench.evaluation.runner import EvalError, run_eval

    try:
        status = run_eval(args.job_id)
    except EvalError as exc:  # the job does not exist
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    _schedule_next()
    return 0 if status in ("completed", "cancelled") else 1


def _schedule_next() -> None:
    """The GPU is free again: start the next queued training run, if any (never changes the exit code)."""
    try:
        from workbench.training import runs

        runs.schedule()
    except Exception as exc:
        print(f"Could not start the next queued run: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
