"""DatabaseCallback: the worker's line to the app, through the registry.

It writes what the Train page draws and reads what the app asks:
- every log: metrics rows (loss, eval_loss, learning_rate, grad_norm, tokens_per_second, gpu_memory_gb),
  and the training job's progress (step, epoch, ETA, tokens seen), in one short transaction;
- every step, at most once per CANCEL_CHECK_SECONDS: whether the app set status 'cancelling'; if so,
  training stops after this step and `stop_mode` ('stop' or 'keep_best') is remembered;
- every evaluation: the best eval_loss so far, and a CPU copy of the LoRA weights that scored it, so
  that a 'keep_best' stop can put those weights back before the adapter is saved.
Only the main process writes; under DDP the stop decision is broadcast to every process.
"""

from __future__ import annotations

import json
import math
import re
import time

from transformers import TrainerCallback

from workbench import store
from workbench.jobs import registry
from workbench.training.objectives.grpo import METRICS as GRPO_METRICS

# Preference trainers (DPO, ORPO, KTO) log rewards: the chosen and rejected answers' implicit rewards, their
# margin, how often the chosen one wins (accuracies), and KTO's KL estimate; ORPO its two loss terms.
PREFERENCE_METRICS = (
    "rewards/chosen",
    "rewards/rejected",
    "rewards/margins",
    "rewards/accuracies",
    "kl",
    "nll_loss",
    "log_odds_ratio",
)
LOGGED_METRICS = (
    "loss",
    "eval_loss",
    "learning_rate",
    "grad_norm",
    *PREFERENCE_METRICS,
    "eval_rewards/margins",
    "eval_rewards/accuracies",
    *GRPO_METRICS,  # the mean reward, its spread, the answers' length, KL, entropy
)
REWARD_MEAN = re.compile(r"rewards/[a-z0-9_]+/mean")
CANCEL_CHECK_SECONDS = 1.0
PROGRESS_EVERY_SECONDS = 0.5


class DatabaseCallback(TrainerCallback):
    def __init__(self, run_id: int, *, echo: bool = False, db=None, job_id: int | None = None):
        self.run_id = run_id
        self._job_id = job_id
        self.echo = echo  # print a readable line per log (the worker's stdout is the run's train.log)
        self._db = db
        self.stop_requested = False
        self._evaluating = False
        self.stop_mode: str | None = None
        self.best_eval_loss: float | None = None
        self.best_step: int | None = None
        self.best_state: dict | None = None  # LoRA weights (CPU) at the best evaluation
        self.last: dict[str, float] = {}  # last value of each metric
        self.last_tokens_per_second: float | None = None
        self.started_step = 0
        self._t0 = time.monotonic()
        self._last_check = -math.inf
        self._last_progress = -math.inf
        # Throughput: time spent in training steps only (evaluation and checkpointing are left out).
        self._mark = time.monotonic()
        self._train_seconds = 0.0
        self._logged_seconds = 0.0
        self._logged_tokens = 0
        self.session_tokens = 0
        self._initial_tokens = 0

    # ------------------------------------------------------------------------------------------- registry

    @property
    def job_id(self) -> int:
        """The run's training job, which carries its progress and hears the app's stop request."""
        if self._job_id is None:
            job = registry.latest(self.run_id, "train")
            if job is None:
                raise registry.JobError(f"Run {self.run_id} has no training job.")
            self._job_id = job["id"]
        return self._job_id

    @property
    def db(self):
        if self._db is None:
            self._db = store.open_db()
        return self._db

    def _write(self, metric_rows: list[dict], progress: dict | None) -> None:
        conn = self.db.conn
        with store.transaction(self.db):
            if metric_rows:
                conn.executemany(
                    "insert into metrics (run_id, step, epoch, name, value, ts) values (?, ?, ?, ?, ?, ?)",
                    [(r["run_id"], r["step"], r["epoch"], r["name"], r["value"], r["ts"]) for r in metric_rows],
                )
            if progress is not None:
                conn.execute(
                    "update jobs set progress_json = ?, heartbeat = ? where id = ?",
                    [json.dumps(progress), progress["updated"], self.job_id],
                )

    def progress(self, state, phase: str = "training") -> dict:
        done = state.global_step - self.started_step
        elapsed = time.monotonic() - self._t0
        remaining = max(0, (state.max_steps or 0) - state.global_step)
        eta = round(elapsed / done * remaining, 1) if done > 0 and phase == "training" else None
        return {
            "phase": phase,
            "step": state.global_step,
            "max_steps": state.max_steps,
            "epoch": round(state.epoch or 0.0, 4),
            "num_epochs": state.num_train_epochs,
            "eta_seconds": eta,
            "seconds_per_step": round(elapsed / done, 2) if done > 0 else None,
            "tokens_seen": int(state.num_input_tokens_seen or 0),
            "best_eval_loss": self.best_eval_loss,
            "done": state.global_step,
            "total": state.max_steps,
            "unit": "steps",
            "updated": store.now(),
        }

    def exclude_elapsed(self) -> None:
        """What ran since the last step (a task check) is not training time."""
        self._mark = time.monotonic()

    def write_phase(self, state, phase: str) -> None:
        """Tell the app what the run does now ('checking answers'), outside the steps."""
        if state.is_world_process_zero:
            self._write([], self.progress(state, phase=phase))

    def average_tokens_per_second(self) -> float | None:
        """Tokens per second of training-step time over this whole attempt (evaluation left out)."""
        if self._train_seconds <= 0 or not self.session_tokens:
            return None
        return self.session_tokens / self._train_seconds

    # ------------------------------------------------------------------------------------------ callbacks

    def on_train_begin(self, args, state, control, **kwargs):
        self.started_step = state.global_step  # above 0 when resuming from a checkpoint
        self._t0 = self._mark = time.monotonic()
        self._logged_tokens = int(state.num_input_tokens_seen or 0)
        self._initial_tokens = self._logged_tokens
        if state.is_world_process_zero:
            self._write([], self.progress(state))
            self._last_progress = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        now = time.monotonic()
        self._train_seconds += now - self._mark
        self._mark = now
        self.session_tokens = int(state.num_input_tokens_seen or 0) - self._initial_tokens
        stop = False
        if state.is_world_process_zero:
            if now - self._last_progress >= PROGRESS_EVERY_SECONDS or state.global_step >= state.max_steps:
                self._write([], self.progress(state))
                self._last_progress = now
            if now - self._last_check >= CANCEL_CHECK_SECONDS:
                self._last_check = now
                mode = registry.stop_requested(self.job_id)
                if mode:
                    stop = True
                    self.stop_mode = mode
        stop = broadcast(stop, args)
        if stop and not self.stop_requested:
            self.stop_requested = True
            self.stop_mode = self.stop_mode or "stop"
            control.should_training_stop = True
            if self.echo and state.is_world_process_zero:
                print(f"Stop requested ({self.stop_mode}) at step {state.global_step}: saving the adapter.", flush=True)
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if not state.is_world_process_zero:
            return
        now = store.now()
        values = {
            name: float(value)
            for name, value in logs.items()
            if (name in LOGGED_METRICS or REWARD_MEAN.fullmatch(name)) and _number(value)
        }
        if "loss" in values:
            tokens = int(state.num_input_tokens_seen or 0)
            seconds = self._train_seconds - self._logged_seconds
            if tokens > self._logged_tokens and seconds > 0:
                values["tokens_per_second"] = (tokens - self._logged_tokens) / seconds
                self.last_tokens_per_second = values["tokens_per_second"]
            self._logged_tokens, self._logged_seconds = tokens, self._train_seconds
            memory = _gpu_memory_gb()
            if memory is not None:
                values["gpu_memory_gb"] = memory
        self._mark = time.monotonic()  # time spent logging/evaluating is not training time
        self.last.update(values)
        rows = [
            {
                "run_id": self.run_id,
                "step": state.global_step,
                "epoch": state.epoch,
                "name": name,
                "value": value,
                "ts": now,
            }
            for name, value in values.items()
        ]
        self._write(rows, self.progress(state))
        self._last_progress = time.monotonic()
        if self.echo and values:
            print(self._line(state, values), flush=True)

    def on_prediction_step(self, args, state, control, **kwargs):
        if state.is_world_process_zero and not self._evaluating:
            self._evaluating = True  # said once per evaluation pass: a cancel waits for the pass to end
            self._write([], self.progress(state, phase="evaluating"))

    def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
        self._evaluating = False
        self._mark = time.monotonic()
        loss = (metrics or {}).get("eval_loss")
        if not _number(loss) or (self.best_eval_loss is not None and loss >= self.best_eval_loss):
            return
        self.best_eval_loss, self.best_step = float(loss), state.global_step
        if model is not None and state.is_world_process_zero:
            self.best_state = lora_state(model)

    def on_save(self, args, state, control, **kwargs):
        self._mark = time.monotonic()

    # --------------------------------------------------------------------------------------------- output

    def _line(self, state, values: dict) -> str:
        parts = [f"step {state.global_step}/{state.max_steps}", f"epoch {state.epoch or 0:.2f}"]
        labels = {
            "loss": "loss {:.4f}",
            "eval_loss": "eval_loss {:.4f}",
            "learning_rate": "lr {:.2e}",
            "grad_norm": "grad_norm {:.3f}",
            "tokens_per_second": "{:,.0f} tok/s",
            "gpu_memory_gb": "gpu {:.1f} GB",
            "rewards/margins": "margin {:.3f}",
            "rewards/accuracies": "reward acc {:.2f}",
            "kl": "kl {:.3f}",
            "reward": "reward {:.3f}",
            "reward_group_std": "group spread {:.3f}",
            "completions/mean_length": "answer {:.0f} tokens",
        }
        parts += [labels[name].format(value) for name, value in values.items() if name in labels]
        eta = self.progress(state).get("eta_seconds")
        if eta is not None and state.global_step < state.max_steps:
            parts.append(f"eta {_duration(eta)}")
        return " · ".join(parts)


def lora_state(model) -> dict:
    """The adapter's weights, cloned to CPU (so later training steps do not change them)."""
    from peft import get_peft_model_state_dict

    return {key: value.detach().to("cpu", copy=True) for key, value in get_peft_model_state_dict(model).items()}


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _gpu_memory_gb() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.max_memory_allocated() / 1e9


def broadcast(flag: bool, args) -> bool:
    """Process 0's decision, on every process (each must stop at the same step under DDP)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return flag
    import torch

    tensor = torch.tensor([1 if flag else 0], device=args.device)
    dist.broadcast(tensor, src=0)
    return bool(tensor.item())


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
