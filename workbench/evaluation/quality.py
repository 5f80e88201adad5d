"""The task's held-out score of one adapter, greedy, stored nowhere: the quality gate of benchmarks and tests.

A speed lever stays only if the adapter it trains answers the held-out rows as well as without it; loss
parity does not show that (on a ticket-triage task exact match moved between 37 % and 100 % while the
validation loss barely changed). `score_adapter` generates the adapter's answers exactly as an
evaluation job does (the same prompts, greedy, the same token budget and batch size) and scores them with
the same metrics, without the base side, the registry or a job.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from workbench import metrics
from workbench.evaluation import generation, heldout
from workbench.inference.engine import Engine, Side
from workbench.training import runs


@dataclass
class HeldOutScore:
    rows: int
    exact_match: float
    field_f1: float | None
    """None for a plain-text task (references that are not JSON)."""
    json_valid: float | None
    answers: list[str]
    """The adapter's greedy answers, in row order: two adapters that answer alike give the same list."""

    def exact_rows(self) -> int:
        return round(self.exact_match * self.rows)


def score_adapter(run_name: str, adapter_dir: Path | str, limit: int | None = None) -> HeldOutScore:
    """Exact match, field F1 and valid JSON of the adapter in `adapter_dir` on run `run_name`'s held-out rows
    (the first `limit`); the adapter may be the run's own or another trained on the same base and rows."""
    run = runs.get_run(run_name)
    config = runs.run_config(run)
    examples = heldout.heldout_prompts(run, limit or 1_000_000)
    if not examples:
        raise heldout.EvalError(f"Run {run_name!r} has no held-out rows to score: split its dataset first.")
    engine = Engine(config.base_model, trust_remote_code=config.trust_remote_code)
    try:
        name = engine.attach(str(adapter_dir), "scored")
        settings = generation.scoring_settings(engine.tokenizer_for(None), [ref for _, ref in examples], config.seed)
        size = generation.EVAL_BATCH_ROWS.get(engine.device.type, generation.EVAL_BATCH_ROWS["cpu"])
        answers = [
            out.text
            for chunk in generation.batches(examples, size)
            for out in engine.generate([Side(name, messages) for messages, _ in chunk], settings)
        ]
    finally:
        with contextlib.suppress(Exception):
            engine.unload()
    scores = [metrics.score_row(answer, ref) for answer, (_, ref) in zip(answers, examples, strict=True)]
    total = metrics.aggregate(scores)
    return HeldOutScore(
        rows=len(examples),
        exact_match=total["exact_match"] or 0.0,
        field_f1=total["field_f1"],
        json_valid=total["json_valid"],
        answers=answers,
    )


def parity(candidate: HeldOutScore, baseline: HeldOutScore, tolerance_rows: int = 1) -> bool:
    """Whether `candidate` answers exactly at least as many held-out rows as `baseline`, within
    `tolerance_rows` (one row of 30 by default: the noise of a greedy answer flipping)."""
    return rows_within(candidate.exact_rows(), baseline.exact_rows(), tolerance_rows)


def rows_within(candidate_rows: int, baseline_rows: int, tolerance_rows: int = 1) -> bool:
    """The parity rule on counts of exactly answered rows (the benchmarks' `quality_parity`)."""
    return candidate_rows >= baseline_rows - tolerance_rows
