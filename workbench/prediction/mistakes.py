"""Preference pairs from an adapter's wrong answers: chosen = the reference, rejected = what the adapter said.

The answers come from one of two places:
- the run's *training* rows, answered by a `predict` job (`answer_training_rows`): the default, so that the
  held-out rows stay a fair test;
- a finished held-out evaluation's rows (`evaluation_candidates`): offered too, but those rows then no
  longer measure generalisation (`HELD_OUT_NOTICE`).
A row is a mistake when its score on the chosen metric is below a threshold (exact match below 1 by default).
Nothing is saved until `save_pairs`, which appends them to a preference dataset as a new revision.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from workbench.data import collect, records, repository
from workbench.errors import WorkbenchError
from workbench.evaluation import heldout
from workbench.evaluation import results as eval_results
from workbench.evaluation.generation import scoring_settings
from workbench.fileio import jsonl_text
from workbench.models.loading import load_tokenizer
from workbench.prediction import job as predictions
from workbench.prediction import outputs
from workbench.training import runs

METRICS = {
    "exact_match": "exact match",
    "field_f1": "field F1 (JSON answers)",
    "json_valid": "valid JSON",
    "rouge_l": "ROUGE-L",
}
HELD_OUT_NOTICE = (
    "These pairs come from the held-out rows: once the adapter trains on them, those rows no longer measure how "
    "it does on rows it has not seen. Make a new held-out split of the dataset (Datasets → Split, or "
    "`python -m workbench datasets split NAME --seed N`) before you compare the next adapter."
)


class MistakesError(WorkbenchError, ValueError):
    """Pairs that cannot be built as asked; the message says why and what to do."""


@dataclass(frozen=True)
class MistakeFilter:
    metric: str = "exact_match"
    below: float = 1.0  # a row whose adapter score is below this is a mistake

    def check(self) -> MistakeFilter:
        if self.metric not in METRICS:
            raise MistakesError(f"metric: {self.metric!r} is not one of {', '.join(METRICS)}.")
        if not 0 < self.below <= 1:
            raise MistakesError(f"below: {self.below} — give a score above 0 and at most 1 (1: anything not perfect).")
        return self

    def describe(self) -> str:
        return f"{METRICS[self.metric]} below {self.below:g}"


@dataclass(frozen=True)
class Candidate:
    row: int  # the row's number in its dataset revision (1-based)
    prompt: list[dict]  # the conversation up to the user's last turn, with the run's system prompt
    reference: str
    answer: str
    scores: dict


def answer_training_rows(run_id: int | str, *, start: bool = True) -> int:
    """Queue a `predict` job answering the run's training rows with its adapter, greedy, with room for the
    longest reference (as the evaluation scores); returns its job id."""
    run = runs.get_run(run_id)
    dataset, revision = repository.revision_by_id(runs.evaluation_revision_id(run))
    fmt = repository.get_dataset(dataset).format
    rows = repository.read_revision_rows(revision)
    indices = heldout.select_indices(revision, "train", None, dataset)
    conversations = [records.to_messages(rows[i], fmt) for i in indices]
    data = jsonl_text({"messages": messages} for messages in conversations).encode("utf-8")
    config = runs.run_config(run)
    tokenizer = load_tokenizer(config.base_model, trust_remote_code=config.trust_remote_code)
    references = [records.prompt_and_reference(rows[i], fmt)[1] for i in indices]
    settings = scoring_settings(tokenizer, references, config.seed)
    predict_config = predictions.for_run(run["id"], max_new_tokens=settings.max_new_tokens, seed=config.seed)
    source = {"purpose": "mistakes", "revision_id": revision.id, "rows": "train", "indices": indices}
    create = predictions.start_predict if start else predictions.create_predict
    return create(predict_config, data, f"{dataset}-r{revision.n}-train.jsonl", fmt="chat", source=source)


def answering_jobs(run_id: int) -> list[dict]:
    """The run's predictions over its training rows for pairs, newest first."""
    return [
        job
        for job in predictions.list_predictions(limit=200)
        if job["run_id"] == run_id
        and (json.loads(job["args_json"] or "{}").get("source") or {}).get("purpose") == "mistakes"
    ]


def prediction_candidates(job_id: int) -> list[Candidate]:
    """The answered rows of a prediction over training rows, with what they were scored against."""
    job = predictions.get_job(job_id)
    source = json.loads(job["args_json"]).get("source") or {}
    indices = source.get("indices") or []
    system = predictions.job_config(job).system_prompt
    inputs = list(outputs.iter_rows(predictions.inputs_path(job)))
    found = []
    for answered in outputs.iter_rows(predictions.outputs_path(job)):
        if answered.get("reference") is None:
            continue
        position = answered["row"] - 1  # 1-based in the outputs file
        prompt = collect.pair_row(inputs[position]["messages"], "", "", system)["prompt"]
        row = indices[position] + 1 if position < len(indices) else answered["line"]
        found.append(Candidate(row, prompt, answered["reference"], answered["output"], answered.get("scores") or {}))
    return found


def evaluation_candidates(job_id: int) -> list[Candidate]:
    """The scored rows of an evaluation job, the adapter's side."""
    found = []
    for row in eval_results.eval_rows_for(job_id):
        prompt = row["details"].get("messages") or [{"role": "user", "content": row["prompt"]}]
        found.append(
            Candidate(row["row_index"] + 1, prompt, row["reference"], row["adapter_output"], row["adapter_scores"])
        )
    return found


def wrong(candidates: list[Candidate], rule: MistakeFilter) -> list[Candidate]:
    """The rows the adapter got wrong by `rule`: scored on its metric below the threshold."""
    rule.check()
    return [c for c in candidates if c.scores.get(rule.metric) is not None and c.scores[rule.metric] < rule.below]


def mistakes(candidates: list[Candidate], rule: MistakeFilter) -> list[Candidate]:
    """The wrong rows that make a pair: a reference, and an answer that is neither empty nor the reference
    (a pair needs two different answers)."""
    return [
        c
        for c in wrong(candidates, rule)
        if c.reference.strip() and c.answer.strip() and c.answer.strip() != c.reference.strip()
    ]


def describe(candidates: list[Candidate], rule: MistakeFilter) -> str:
    """“4 of 6 rows wrong by exact match below 1; 1 of them answered nothing and makes no pair.”"""
    wrong_rows = wrong(candidates, rule)
    text = f"{len(wrong_rows)} of {len(candidates)} rows wrong by {rule.describe()}"
    left_out = len(wrong_rows) - len(mistakes(candidates, rule))
    if left_out:
        text += (
            f"; {left_out} of them answered nothing (or only the reference's spacing) and make no pair: an empty "
            "answer cannot be the rejected side. Fix those rows by training on them (SFT) instead"
        )
    return text


def pair_rows(found: list[Candidate]) -> list[dict]:
    return [{"prompt": c.prompt, "chosen": c.reference, "rejected": c.answer} for c in found]


def save_pairs(dataset: str, found: list[Candidate], note: str) -> repository.Revision:
    """Append the pairs to the preference dataset `dataset` (created when there is none of that name)."""
    if not found:
        raise MistakesError("No pair to save: the adapter got every row right by this rule. Loosen the rule.")
    return collect.add_pairs(dataset, pair_rows(found), note)
