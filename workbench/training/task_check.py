"""Stop when good: while a run trains, answer a few held-out rows, score them with the held-out evaluation's
own metrics, chart the score, keep the best adapter by it, and stop the run once the rules say so.

    every `every` steps (and at the end):  greedy answers for the sample, batched, KV cache, stopping at the
    end-of-turn token -> metrics.score_row -> the chosen metric's mean -> a `task/<metric>` metrics row
    -> a better score: the LoRA weights are kept (memory and `runs/<run>/best-by-task/`, so a resume has them)
    -> reached `stop_at`, or `stop_patience` checks without a better score, or (in a sweep, `prune_margin`)
       that far below the median of the experiment's finished runs at the same step: training stops here

The worker puts the best check's weights back before it saves the adapter when the last check scored lower,
and says why the run stopped. Only process 0 generates; the decision is broadcast (callback.broadcast).
"""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import dataclass, field

from transformers import TrainerCallback

from workbench import metrics, paths, store
from workbench.fileio import folder_in_place, write_json_atomic
from workbench.models.loading import stop_token_ids
from workbench.training.callback import broadcast, lora_state
from workbench.training.config import TrainConfig

CHECKS_PER_EPOCH = 2
BATCH_ROWS = {"cpu": 8, "cuda": 32}
MAX_NEW_TOKENS = 512
BEST_DIR = "best-by-task"
SHORT_ANSWER_WORDS = 12
METRIC_PREFIX = "task/"
PRUNE_AFTER_CHECKS = 2
# One finished peer is one seed's luck: on SmolLM2 (sample task, lr 1e-3) seed 1 checked 7 of 8 right at step 86
# where seed 2 had 5, and one-peer pruning stopped seed 2 (bench/README.md, 2026-12-07). As Optuna's
# MedianPruner waits for its startup trials, a run is pruned only against two finished runs or more.
PRUNE_MIN_PEERS = 2


@dataclass
class CheckPlan:
    """What a run checks: the metric, the sample rows (messages, reference), how often, and when it stops."""

    metric: str
    rows: list[tuple[list[dict], str]]
    every: int
    stop_at: float
    patience: int
    max_new_tokens: int
    prune_margin: float = 0.0
    experiment_id: int | None = None

    def describe(self) -> str:
        rules = []
        if self.stop_at:
            rules.append(f"once it reaches {self.stop_at:g}")
        if self.patience:
            rules.append(f"after {self.patience} checks without a better score")
        if self.prune_margin and self.experiment_id:
            rules.append(
                f"when {self.prune_margin:g} below the median of the experiment's finished runs (once "
                f"{PRUNE_MIN_PEERS} have finished)"
            )
        rule = f"stops {' or '.join(rules)}" if rules else "runs all its epochs"
        return (
            f"Task checks: {self.metric} on {len(self.rows)} held-out rows every {self.every} steps; the best "
            f"check's adapter is kept; the run {rule}."
        )


def resolve_metric(choice: str, references: list[str]) -> str:
    """'auto': exact match where most answers are JSON or short (a label, a number, a field set), else ROUGE-L."""
    if choice != "auto":
        return choice
    fitting = sum(1 for ref in references if metrics.parse_json(ref)[0] or len(ref.split()) <= SHORT_ANSWER_WORDS)
    return "exact_match" if references and fitting * 2 >= len(references) else "rouge_l"


def plan_checks(
    config: TrainConfig,
    sample: list[tuple[list[dict], str]],
    steps_per_epoch: int,
    tokenizer,
    experiment_id: int | None = None,
) -> CheckPlan | None:
    """The checks of a run, or None when it asks for none or has no held-out rows to answer."""
    if config.task_metric == "off" or not sample:
        return None
    sample = sample[: config.task_check_rows]
    references = [reference for _, reference in sample]
    longest = max(len(tokenizer(ref, add_special_tokens=False)["input_ids"]) for ref in references)
    every = config.task_check_steps or max(1, math.ceil(steps_per_epoch / CHECKS_PER_EPOCH))
    return CheckPlan(
        metric=resolve_metric(config.task_metric, references),
        rows=sample,
        every=every,
        stop_at=config.stop_at,
        patience=config.stop_patience,
        max_new_tokens=min(MAX_NEW_TOKENS, int(longest * 1.3) + 16),
        prune_margin=config.prune_margin,
        experiment_id=experiment_id,
    )


def answer(model, tokenizer, conversations: list[list[dict]], max_new_tokens: int) -> list[str]:
    """Greedy answers of the model as it stands (adapter on), batched with left padding, each ending at its
    end-of-turn token."""
    import torch

    prompts = [tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in conversations]
    device = next(model.parameters()).device
    stops = sorted(stop_token_ids(tokenizer, getattr(model, "generation_config", None)))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]
    size = BATCH_ROWS.get(device.type, BATCH_ROWS["cpu"])
    padding_side, was_training = tokenizer.padding_side, model.training
    tokenizer.padding_side = "left"
    model.eval()
    texts: list[str] = []
    try:
        for start in range(0, len(prompts), size):
            chunk = prompts[start : start + size]
            batch = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False)
            batch = {key: value.to(device) for key, value in batch.items()}
            with torch.no_grad():
                out = model.generate(
                    **batch,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    temperature=None,
                    top_p=None,
                    top_k=None,
                    eos_token_id=stops,
                    pad_token_id=pad,
                    use_cache=True,
                )
            texts += tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    finally:
        tokenizer.padding_side = padding_side
        if was_training:
            model.train()
    return [text.strip() for text in texts]


def score(plan: CheckPlan, answers: list[str]) -> float:
    """The plan's metric over the sample: the held-out evaluation's row scores, averaged the same way."""
    rows = [metrics.score_row(text, reference) for text, (_, reference) in zip(answers, plan.rows, strict=True)]
    value = metrics.aggregate(rows).get(plan.metric)
    return float(value or 0.0)


@dataclass
class CheckHistory:
    """The checks so far and what they decide: the best score and its step, and checks since it improved."""

    checks: list[tuple[int, float]] = field(default_factory=list)  # (step, score)

    @property
    def best(self) -> tuple[int, float] | None:
        """The check whose adapter is kept: the top score, and of equal scores the latest, which trained longer
        with as many answers right. On the sample task 6 of 8 stayed right at steps 129, 172 and 215: the adapters
        of 129 and 215 both got 25/30 held-out, the later with the lower loss (0.009 against 0.015)."""
        best = None
        for step, value in self.checks:
            if best is None or value >= best[1] - 1e-9:
                best = (step, value)
        return best

    @property
    def since_best(self) -> int:
        """Checks since the score last went up (a tie is no progress); none count while no answer was right yet
        (the score still 0), since a metric like exact match stays at 0 a while before whole answers come."""
        first_top = None
        for step, value in self.checks:
            if first_top is None or value > first_top[1] + 1e-9:
                first_top = (step, value)
        if first_top is None or first_top[1] <= 0:
            return 0
        return sum(1 for step, _ in self.checks if step > first_top[0])

    def stop_reason(self, plan: CheckPlan, metric_name: str) -> str | None:
        """Why the run stops after the latest check, in words, or None while it goes on."""
        if not self.checks:
            return None
        step, value = self.checks[-1]
        if plan.stop_at and value >= plan.stop_at:
            return f"reached {metric_name} {value:.2f} ≥ {plan.stop_at:g} at step {step}"
        best = self.best
        if plan.patience and best is not None and self.since_best >= plan.patience:
            return (
                f"no better {metric_name} for {self.since_best} checks: the best, {best[1]:.2f} (its latest at "
                f"step {best[0]}), is kept"
            )
        return None


class TaskCheckCallback(TrainerCallback):
    """Runs the plan's checks during training and stops it by the plan's rules (see the module docstring)."""

    def __init__(self, run_id: int, run_name: str, plan: CheckPlan, tokenizer, *, clock=None, say=print, db=None):
        self.run_id, self.run_name, self.plan, self.tokenizer = run_id, run_name, plan, tokenizer
        self.clock = clock  # the DatabaseCallback: check time is not training time
        self.say = say
        self._db = db
        self.history = CheckHistory()
        self.best_state: dict | None = None
        self.stopped_because: str | None = None
        self.seconds = 0.0
        self.name = metrics_name(plan.metric)

    @property
    def db(self):
        if self._db is None:
            self._db = store.open_db()
        return self._db

    # -------------------------------------------------------------------------------------------- hooks

    def on_train_begin(self, args, state, control, **kwargs):
        """A resumed run goes on with the checks it had before its checkpoint, and their best adapter."""
        if not state.is_world_process_zero:
            return
        rows = self.db.execute(
            "select step, value from metrics where run_id = ? and name = ? and step <= ? order by step",
            [self.run_id, METRIC_PREFIX + self.plan.metric, state.global_step],
        ).fetchall()
        self.history = CheckHistory([(int(step), float(value)) for step, value in rows])
        best = self.history.best
        if best is not None:
            self.best_state = load_best(self.run_name, best[0])

    def on_step_end(self, args, state, control, model=None, **kwargs):
        due = state.global_step % self.plan.every == 0 and state.global_step < state.max_steps
        if not due:
            return control
        reason = None
        if state.is_world_process_zero:
            self.check(model, state)
            reason = self.history.stop_reason(self.plan, self.name) or self.pruned(state.global_step)
        if broadcast(reason is not None, args):
            self.stopped_because = reason or "the main process's task check"
            control.should_training_stop = True
            self.say(f"Stopping: {self.stopped_because}.")
        return control

    # ------------------------------------------------------------------------------------------- checks

    def check(self, model, state) -> float:
        """Answer the sample now, record the score, keep the weights when it is the best so far."""
        started = time.monotonic()
        self._progress(state, "checking answers")
        answers = answer(model, self.tokenizer, [messages for messages, _ in self.plan.rows], self.plan.max_new_tokens)
        value = score(self.plan, answers)
        before = self.history.best
        self.history.checks.append((state.global_step, value))
        if self.history.best != before:
            self.best_state = lora_state(model)
            save_best(self.run_name, state.global_step, value, self.best_state)
        self._record(state, value)
        self.seconds += time.monotonic() - started
        if self.clock is not None:
            self.clock.exclude_elapsed()
        self.say(
            f"check at step {state.global_step}: {self.name} {value:.2f} on {len(self.plan.rows)} held-out rows "
            f"({time.monotonic() - started:.1f} s)"
        )
        return value

    def pruned(self, step: int) -> str | None:
        """Why this run of a sweep is pruned after the check at `step`, or None (from its PRUNE_AFTER_CHECKS-th
        check on)."""
        if not (self.plan.prune_margin and self.plan.experiment_id) or len(self.history.checks) < PRUNE_AFTER_CHECKS:
            return None
        peers = peer_scores(self.db, self.plan.experiment_id, self.run_id, METRIC_PREFIX + self.plan.metric, step)
        return prune_reason(self.name, self.history.checks[-1][1], step, peers, self.plan.prune_margin)

    def final_check(self, model, state) -> None:
        """Score the adapter as training left it, unless the last check already did."""
        if not self.history.checks or self.history.checks[-1][0] != state.global_step:
            self.check(model, state)

    def restore_best(self, model, step: int) -> tuple[int, float] | None:
        """Put the best check's weights back unless they are the model's at `step`; returns (step, score) if so."""
        from peft import set_peft_model_state_dict

        best = self.history.best
        if best is None or self.best_state is None or best[0] == step:
            return None
        set_peft_model_state_dict(model, self.best_state)
        return best

    def _record(self, state, value: float) -> None:
        with store.transaction(self.db):
            self.db.execute(
                "insert into metrics (run_id, step, epoch, name, value, ts) values (?, ?, ?, ?, ?, ?)",
                [self.run_id, state.global_step, state.epoch, METRIC_PREFIX + self.plan.metric, value, store.now()],
            )

    def _progress(self, state, phase: str) -> None:
        if self.clock is not None:
            self.clock.write_phase(state, phase)


def prune_reason(name: str, value: float, step: int, peers: list[float], margin: float) -> str | None:
    """Why a score `margin` or more below the median of the finished peers' scores at `step` prunes the run (at
    least PRUNE_MIN_PEERS of them), or None."""
    if len(peers) < PRUNE_MIN_PEERS:
        return None
    median = statistics.median(peers)
    if value > median - margin:
        return None
    return (
        f"pruned: {name} {value:.2f} at step {step}, {margin:g} or more below the median {median:.2f} of the "
        f"experiment's {len(peers)} finished runs there"
    )


def peer_scores(db, experiment_id: int, run_id: int, name: str, step: int) -> list[float]:
    """Each finished run of the experiment (but `run_id`): its last `name` score at or before `step`. A pruned run
    is no peer (as in Optuna's MedianPruner): its last score, carried past where it stopped, would hold the
    median down."""
    rows = db.execute(
        "select m.run_id, m.value from metrics m join runs r on r.id = m.run_id "
        "where r.experiment_id = ? and r.id != ? and m.name = ? and m.step <= ? and exists "
        "(select 1 from jobs j where j.run_id = r.id and j.kind = 'train' and j.status = 'completed' "
        "and coalesce(json_extract(j.result_json, '$.final_metrics.stopped_because'), '') not like 'pruned%') "
        "order by m.run_id, m.step",
        [experiment_id, run_id, name, step],
    ).fetchall()
    return list({run: value for run, value in rows}.values())  # the last of each run


def metrics_name(metric: str) -> str:
    return metric.replace("_", " ")


# ---------------------------------------------------------------------------------------- best on disk


def save_best(run_name: str, step: int, value: float, state: dict) -> None:
    """The best check's LoRA weights beside the run's checkpoints, so that a resumed run still has them."""
    from safetensors.torch import save_file

    with folder_in_place(paths.run_dir(run_name) / BEST_DIR) as building:
        building.mkdir(parents=True)
        save_file({key: value.contiguous() for key, value in state.items()}, str(building / "lora.safetensors"))
        write_json_atomic(building / "check.json", {"step": step, "value": value})


def load_best(run_name: str, step: int) -> dict | None:
    """The best weights saved at `step`, or None (none saved, or saved for a check a resume dropped)."""
    from safetensors.torch import load_file

    folder = paths.run_dir(run_name) / BEST_DIR
    try:
        saved = json.loads((folder / "check.json").read_text())
    except (OSError, ValueError):
        return None
    if saved.get("step") != step:
        return None
    return load_file(str(folder / "lora.safetensors"))
