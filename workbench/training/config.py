"""TrainConfig: every setting of a training run, with help text, validated in one place.

The same dataclass is filled by the Train page, the CLI (`--set key=value`, `--config FILE`) and read
back by the worker process from the database. Defaults follow the seeds' recipe for a GPU (LoRA r 8,
alpha 16, dropout 0.05, lr 2e-4, cosine, 3 epochs, max length 1024, gradient accumulation 4, loss on
completions only, packing); `cpu_preset()` gives the settings that make CPU training take minutes.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field, fields
from typing import Any

from workbench.errors import WorkbenchError
from workbench.models.presets import BasePreset
from workbench.training import rewards

TARGET_MODULE_PRESETS = {
    "attention": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "all-linear": "all-linear",
}
METHODS = ("lora", "qlora")
SCHEDULERS = ("cosine", "linear", "constant", "constant_with_warmup")
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
OBJECTIVES = ("sft", "dpo", "orpo", "kto", "grpo")
# TRL's loss types per objective ("auto": each trainer's own default, sigmoid for DPO and kto for KTO).
LOSS_TYPES = {
    "dpo": (
        "sigmoid",
        "sigmoid+sft",
        "ipo",
        "hinge",
        "robust",
        "bco_pair",
        "sppo_hard",
        "nca_pair",
        "apo_zero",
        "apo_down",
        "sigmoid_norm",
    ),
    "kto": ("kto", "apo_zero_unpaired"),
    "grpo": ("dapo", "grpo", "dr_grpo", "bnpo", "cispo", "sapo"),
}
CHAT_TEMPLATES = ("model", "chatml")
# The held-out metrics a run can check while it trains ("auto": exact match where the answers are short or
# JSON, else ROUGE-L; see training/task_check.py).
TASK_METRICS = ("off", "auto", "exact_match", "field_f1", "json_valid", "rouge_l")


def _f(default: Any, help: str):
    return field(default=default, metadata={"help": help})


class ConfigError(WorkbenchError, ValueError):
    """Every problem of a TrainConfig at once, one per line."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("Invalid training settings:\n" + "\n".join(f"- {p}" for p in problems))


@dataclass
class TrainConfig:
    # What to train
    base_model: str = _f("demo", "Base model: 'demo', a prepared model name, a local folder or a Hugging Face id.")
    dataset: str = _f("", "Name of the dataset to train on.")
    dataset_revision: int | None = _f(None, "Dataset revision (default: the latest).")
    objective: str = _f(
        "sft",
        "What the run learns from: 'sft' copies the answers of instruction or chat rows; 'dpo' and 'orpo' prefer "
        "the chosen answer of preference pairs over the rejected one; 'kto' learns from answers labelled good or "
        "bad (or from pairs, each side on its own).",
    )
    start_from: str = _f(
        "",
        "A completed run whose adapter this run goes on training (same base); empty: a new adapter on the base. "
        "A preference run started from an SFT run keeps that adapter as its reference.",
    )
    method: str = _f("lora", "'lora' (16/32-bit base) or 'qlora' (4-bit NF4 base with bitsandbytes; needs a CUDA GPU).")
    # LoRA
    lora_r: int = _f(8, "LoRA rank: the size of the low-rank update. Higher learns more, uses more memory.")
    lora_alpha: int = _f(16, "LoRA alpha: scales the update (alpha / r). Usually 2 × r.")
    lora_dropout: float = _f(0.05, "Dropout on the LoRA layers, 0 to < 1.")
    target_modules: str = _f(
        "attention",
        "Layers that get adapters: 'attention', 'all-linear', or a comma list of module names such as 'q_proj,v_proj'.",
    )
    # Optimisation
    learning_rate: float = _f(2e-4, "Peak learning rate.")
    lr_scheduler: str = _f("cosine", "Learning-rate schedule: cosine, linear, constant, constant_with_warmup.")
    warmup: float = _f(0.03, "Warm-up: a ratio of the total steps when < 1, else a number of steps.")
    weight_decay: float = _f(0.0, "Weight decay (L2) on the adapter weights.")
    num_epochs: float = _f(3.0, "Passes over the training rows.")
    max_steps: int = _f(-1, "Stop after this many optimizer steps (-1: run all epochs).")
    per_device_batch_size: int = _f(1, "Rows (or packed sequences) per forward pass on each device.")
    gradient_accumulation_steps: int = _f(4, "Forward passes per optimizer step; effective batch = batch × this.")
    max_length: int = _f(1024, "Longest sequence in tokens; longer rows are truncated.")
    packing: bool = _f(True, "Pack several short rows into one sequence of max_length (faster on GPU).")
    train_on_inputs: bool = _f(False, "Also learn the prompt tokens. Off: loss on the completions only.")
    gradient_checkpointing: bool = _f(True, "Recompute activations to save memory (about 20-30 % slower).")
    precision: str = _f(
        "auto",
        "auto (bf16 where the GPU supports it, else fp16; on CPU bf16 autocast where the "
        "CPU has native bf16, else fp32), bf16, fp16, fp32.",
    )
    optimizer: str = _f("auto", "auto (paged 8-bit AdamW for QLoRA, AdamW otherwise) or a transformers optim name.")
    seed: int = _f(42, "Random seed for initialisation, shuffling and dropout.")
    # Where it trains
    num_processes: int = _f(
        0,
        "Training processes, one per device, each with its own batch (data parallel): 0 = every GPU chosen (one "
        "process without a GPU); on a CPU, N runs N processes over gloo (to prove the path, or on a many-core "
        "server). The effective batch is batch × accumulation × processes.",
    )
    gpus: str = _f("", "Which GPUs: empty = every visible one; '0,2' = those two (one process each).")
    # Preference objectives (dpo, orpo, kto)
    beta: float = _f(
        0.1,
        "How far the adapter may move from its reference (DPO, KTO: higher stays closer) or the weight of the "
        "odds-ratio term (ORPO). Typical: 0.05-0.5.",
    )
    loss_type: str = _f(
        "auto",
        "TRL's loss for the objective: 'auto' (sigmoid for DPO, kto for KTO), or for DPO 'sigmoid+sft' (RPO: "
        "DPO plus the chosen answer's own loss, which keeps the adapter from unlearning it), ipo, hinge, "
        "robust, apo_zero, …; for KTO apo_zero_unpaired. ORPO has one loss.",
    )
    desirable_weight: float = _f(1.0, "KTO: weight of the answers labelled good.")
    undesirable_weight: float = _f(
        1.0, "KTO: weight of the answers labelled bad; raise it when good answers outnumber bad ones (and back)."
    )
    # GRPO: answers sampled per prompt, scored by rewards built from the evaluation's metrics
    num_generations: int = _f(
        4,
        "GRPO: answers sampled for each prompt; the group whose rewards are compared (at least 2). More sees finer "
        "differences and costs proportionally more generation. batch × accumulation must be a multiple of it.",
    )
    max_completion_length: int = _f(
        256,
        "GRPO: longest sampled answer in tokens; a longer one is cut and scored as it stands. Keep it a little above "
        "the reference answers' length: generation dominates a GRPO step on a CPU.",
    )
    temperature: float = _f(
        1.0, "GRPO: sampling temperature. Higher gives more varied answers in a group (more to learn from), 0.7-1.2."
    )
    rewards: str = _f(
        rewards.FOR_JSON,  # the Train page fits it to a dataset of text answers (rewards.fitting)
        "GRPO: the rewards and their weights, 'name:weight' comma-separated: json_valid, json_keys_match, field_f1, "
        "exact_match, rouge_l (against each row's reference answer), regex (reward_pattern), length "
        "(reward_max_chars). Each scores an answer 0-1; the run reinforces their weighted sum.",
    )
    reward_pattern: str = _f("", "GRPO, regex reward: the regular expression an answer must match (re.search).")
    reward_max_chars: int = _f(0, "GRPO, length reward: answers up to this many characters score 1, 0 at twice it.")
    # Evaluation, saving, logging
    eval_steps: int = _f(0, "Evaluate on the validation split every N steps (0: once per epoch).")
    save_steps: int = _f(0, "Save a checkpoint every N steps (0: once per epoch).")
    logging_steps: int = _f(1, "Log loss, learning rate and speed every N steps.")
    # Prompting
    system_prompt: str = _f("", "System prompt added to rows that have none (and used when chatting later).")
    chat_template: str = _f("model", "'model' (the base tokenizer's own template) or 'chatml'.")
    trust_remote_code: bool = _f(False, "Run code shipped with the model repository. Only for models you trust.")
    # After training
    auto_evaluate: bool = _f(True, "Score base and adapter on the validation split when the run completes.")
    # Stop when good: the task's own metric on a few held-out rows while training.
    task_metric: str = _f(
        "off",
        "Answer a few held-out rows while training and score them: off, auto (exact match for short or JSON "
        "answers, else ROUGE-L), exact_match, field_f1, json_valid or rouge_l. The best check's adapter is kept.",
    )
    task_check_rows: int = _f(
        16, "Held-out rows answered at each check (greedy, batched); more measure better, cost more."
    )
    task_check_steps: int = _f(0, "Check the task metric every N optimizer steps (0: twice per epoch).")
    stop_at: float = _f(0.0, "Stop once the task metric reaches this, 0-1 (0: do not stop for a target).")
    prune_margin: float = _f(
        0.0,
        "In a sweep: stop a run whose task metric, from its second check on, is this far below the median of the "
        "experiment's finished runs at the same step, once two have finished (0: never prune). It is marked pruned "
        "and keeps its adapter.",
    )
    stop_patience: int = _f(
        0,
        "Stop after this many checks in a row without a better task metric, once it is above 0 (0: do not stop "
        "for it).",
    )

    def validate(self) -> TrainConfig:
        problems = _problems(self)
        if problems:
            raise ConfigError(problems)
        return self

    def resolved_target_modules(self) -> list[str] | str:
        preset = TARGET_MODULE_PRESETS.get(self.target_modules)
        if preset is not None:
            return preset if isinstance(preset, str) else list(preset)
        return [m.strip() for m in self.target_modules.split(",") if m.strip()]

    def chosen_gpus(self) -> list[int]:
        """The GPUs named in `gpus` ([] for every visible one)."""
        return [int(part) for part in self.gpus.replace(" ", "").split(",") if part.isdigit()]

    def processes(self, visible_gpus: int) -> int:
        """How many training processes the run starts on a machine with `visible_gpus` GPUs."""
        if self.chosen_gpus():
            return len(self.chosen_gpus())
        if self.num_processes:
            return self.num_processes
        return max(1, visible_gpus)

    def accumulation_per_process(self, processes: int) -> int:
        """Forward passes per optimizer step in each of `processes`: the effective batch stays the one set
        (batch × accumulation), exactly where the processes divide the accumulation, else the nearest."""
        return max(1, round(self.gradient_accumulation_steps / max(1, processes)))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError([f"{key}: unknown setting (known: {', '.join(sorted(known))})" for key in unknown])
        return cls(**data)

    def with_updates(self, **updates) -> TrainConfig:
        return dataclasses.replace(self, **updates)

    @classmethod
    def help(cls, name: str) -> str:
        return next(f.metadata["help"] for f in fields(cls) if f.name == name)


def cpu_preset(config: TrainConfig | None = None) -> TrainConfig:
    """Settings for CPU training: bigger LoRA on every linear layer, higher lr, no checkpointing/packing.

    Measured on 2 cores with SmolLM2-135M (bench/README.md, bench/preset_sweep.py):
    - batch 2 trains at 130-190 tokens/s against about 115 at batch 4 (less padding, smaller logits) and
      gives twice the optimizer steps per epoch; packing to 1024 tokens is slower still (about 67);
    - epochs matter most: held-out exact match went 0.47 -> 0.80 from 1 to 2 epochs at batch 4 on the sample
      task, and with lr 2e-3 two epochs reached 0.90 where 1e-3 reached 0.80;
    - three epochs, not two: on a ticket task whose fields must be inferred (tickets-soporte), two epochs sit on
      the knee of the curve, 29/30 held-out exact with one seed and 16/30 with another (lr 3e-3 instead: 14/30),
      where three epochs gave 24-28/30 over three seeds (issue 23, bench/preset_sweep.py); the English ticket
      task gave 30/30 either way. It costs half as much time again.
    - and at most three: the run checks its answers on 8 held-out rows twice per epoch and stops once 6 of 8 are
      right, or after two checks (an epoch) without a better score, keeping its best check (issue 26; a check
      of 8 JSON answers takes about 10-35 s on 2 cores, see the run's log for its share). A target of all 8
      was never met on either task and cost 40 % (sample task: 839 s against 504 s, both 25/30 held-out exact)
      and 27 % (ES tickets: 653 s, 28/30, against 477 s, 27/30) more time (bench/README.md, 2026-12-07). Over
      three seeds on the sample task 6 of 8 ended at 25, 22 and 29/30 in 580 s on average, all 8 at 25, 25 and
      29/30 in 954 s: within a row of plain TRL's 23/30 either way, so 6 of 8 (stop_at=1 for the surer run).
      Checking 16 rows would have stopped the weak seed all the same (14/16 checked, 22/30 held out): 8 rows.
    """
    return (config or TrainConfig()).with_updates(
        lora_r=16,
        lora_alpha=32,
        target_modules="all-linear",
        learning_rate=2e-3,
        num_epochs=3.0,
        gradient_checkpointing=False,
        packing=False,
        gradient_accumulation_steps=1,
        per_device_batch_size=2,
        method="lora",
        precision="auto",
        task_metric="auto",
        task_check_rows=8,
        stop_at=0.75,
        stop_patience=2,
    )


def describe_cpu_preset(native_bf16: bool = False) -> str:
    """The CPU preset in words, from its values: what the Train page, the CLI and the README say."""
    preset = cpu_preset()
    targets = "all linear layers" if preset.target_modules == "all-linear" else preset.target_modules
    text = (
        f"LoRA r {preset.lora_r} on {targets}, learning rate {preset.learning_rate:g}, "
        f"batch {preset.per_device_batch_size}, up to {preset.num_epochs:g} epochs, "
        f"no gradient checkpointing or packing; it stops once {round(preset.stop_at * preset.task_check_rows)} of its "
        f"answers to {preset.task_check_rows} held-out rows are right, or after {preset.stop_patience} checks "
        "without a better score once one is right, keeping its best check"
    )
    return text + (", bf16 autocast (this CPU has native bf16)" if native_bf16 else "")


# What changes with the objective. Measured on CPU (bench/preference_round.py, ES ticket task, SmolLM2-135M, pairs
# from an SFT run's mistakes on its training rows, one epoch of them): after a 1-epoch SFT run (5/30 held-out
# exact) DPO at 2e-4 fell to 1/30 and at 2e-5 rose to 15/30, ORPO at 2e-3 rose to 14/30; after a converged 3-epoch
# run (28/30) DPO at 2e-5 kept 28/30 and ORPO at 2e-3 fell to 21/30. So DPO starts at 2e-5, and ORPO, not yet
# measured lower, at 2e-4; KTO (not measured) takes DPO's rate, having its reference too.
NO_TASK_CHECKS = {"task_metric": "off", "stop_at": 0.0, "stop_patience": 0, "prune_margin": 0.0}
PREFERENCE_SHAPE = {"beta": 0.1, "max_steps": -1, "save_steps": 0}
# GRPO on a CPU: one prompt's group of 4 answers a step (batch 4), 30 steps, a checkpoint and a check of its
# answers on 8 held-out rows every 10 steps, keeping the best check (bench/grpo_round.py, README: a step of
# SmolLM2-135M on 2 cores).
GRPO_DEFAULTS = {
    "learning_rate": 5e-5,
    "num_epochs": 1.0,
    "max_steps": 30,
    "save_steps": 10,
    "per_device_batch_size": 4,
    "gradient_accumulation_steps": 1,
    "beta": 0.04,
    "loss_type": "auto",
    "task_metric": "auto",
    "task_check_rows": 8,
    "task_check_steps": 10,
    "stop_at": 1.0,
    "stop_patience": 0,
    "prune_margin": 0.0,
}
OBJECTIVE_DEFAULTS: dict[str, dict[str, Any]] = {
    "sft": {},
    "dpo": {"learning_rate": 2e-5, "num_epochs": 1.0, "loss_type": "auto", **PREFERENCE_SHAPE, **NO_TASK_CHECKS},
    "orpo": {"learning_rate": 2e-4, "num_epochs": 1.0, "loss_type": "auto", **PREFERENCE_SHAPE, **NO_TASK_CHECKS},
    "kto": {"learning_rate": 2e-5, "num_epochs": 1.0, "loss_type": "auto", **PREFERENCE_SHAPE, **NO_TASK_CHECKS},
    "grpo": GRPO_DEFAULTS,
}
# Every setting an objective change may set (the Train page puts them in its widgets).
OBJECTIVE_SETTINGS = tuple(dict.fromkeys(key for d in OBJECTIVE_DEFAULTS.values() for key in d))


def with_objective(
    config: TrainConfig, objective: str, recipe: TrainConfig, keep: set[str] | frozenset[str] = frozenset()
) -> TrainConfig:
    """`config` set to train `objective` with that objective's defaults, except the settings named in `keep` (the
    ones a user gave). Back to SFT: those settings as `recipe` (the GPU recipe or the CPU preset) has them."""
    if objective == "sft":
        updates = {key: getattr(recipe, key) for key in OBJECTIVE_SETTINGS}
    else:
        updates = dict(OBJECTIVE_DEFAULTS.get(objective, {}))
    updates = {key: value for key, value in updates.items() if key not in keep}
    return config.with_updates(objective=objective, **updates)


def describe_placement(config: TrainConfig, visible_gpus: int) -> str:
    """Where a run trains and its effective batch, in words (the Train page and `train` say it)."""
    processes = config.processes(visible_gpus)
    if visible_gpus and config.chosen_gpus():
        where = f"GPUs {config.gpus}, one process each"
    elif visible_gpus:
        where = f"{processes} of {visible_gpus} GPU(s), one process each"
    else:
        where = f"{processes} CPU process{'es (data parallel, gloo)' if processes > 1 else ''}"
    batch, accumulation = config.per_device_batch_size, config.gradient_accumulation_steps
    text = f"Trains on {where}. Effective batch: {batch} × {accumulation} = {batch * accumulation} rows a step"
    if processes > 1:
        each = config.accumulation_per_process(processes)
        made = batch * each * processes
        text += f", kept in {processes} processes as {batch} × {each} × {processes} = {made}"
        if made != batch * accumulation:
            text += f" (the nearest: {processes} processes do not divide an accumulation of {accumulation})"
    return text + "; memory estimates are per device."


def default_config(has_gpu: bool) -> TrainConfig:
    """The seeds' recipe on a GPU; the CPU preset otherwise (the GPU recipe would take hours there)."""
    return TrainConfig() if has_gpu else cpu_preset()


def _problems(c: TrainConfig) -> list[str]:
    problems: list[str] = []

    def need(ok: bool, message: str) -> None:
        if not ok:
            problems.append(message)

    need(bool(c.base_model.strip()), "base_model: empty — choose 'demo', a prepared model, a folder or a hub id.")
    need(bool(c.dataset.strip()), "dataset: empty — pick the dataset to train on.")
    need(c.dataset_revision is None or c.dataset_revision >= 1, "dataset_revision: must be 1 or more (or empty).")
    need(c.objective in OBJECTIVES, f"objective: {c.objective!r} is not one of {', '.join(OBJECTIVES)}.")
    losses = LOSS_TYPES.get(c.objective, ())
    need(
        c.loss_type == "auto" or c.loss_type in losses,
        f"loss_type: {c.loss_type!r} does not go with objective {c.objective!r}; use 'auto'"
        + (f" or one of {', '.join(losses)}." if losses else "."),
    )
    if c.objective == "grpo":
        need(c.beta >= 0, f"beta: {c.beta} — must be ≥ 0 for GRPO (0: no KL term and no reference; typical 0.04).")
        problems.extend(_grpo_problems(c))
    else:
        need(c.beta > 0, f"beta: {c.beta} — must be > 0 (typical: 0.05-0.5).")
    need(
        c.desirable_weight > 0 and c.undesirable_weight > 0,
        "desirable_weight, undesirable_weight: must be > 0 (typical: 1.0; a ratio of at most 4:3 between the "
        "weighted counts of good and bad answers).",
    )
    need(c.method in METHODS, f"method: {c.method!r} is not one of {', '.join(METHODS)}.")
    need(c.lora_r >= 1, f"lora_r: {c.lora_r} — the rank must be at least 1 (typical: 8-64).")
    need(c.lora_alpha >= 1, f"lora_alpha: {c.lora_alpha} — must be at least 1 (typical: 2 × lora_r).")
    need(0 <= c.lora_dropout < 1, f"lora_dropout: {c.lora_dropout} — must be in [0, 1).")
    need(bool(c.resolved_target_modules()), "target_modules: empty — use 'attention', 'all-linear' or names.")
    need(0 < c.learning_rate <= 1, f"learning_rate: {c.learning_rate} — must be > 0 and ≤ 1 (typical: 1e-4 to 1e-3).")
    need(c.lr_scheduler in SCHEDULERS, f"lr_scheduler: {c.lr_scheduler!r} is not one of {', '.join(SCHEDULERS)}.")
    need(c.warmup >= 0, f"warmup: {c.warmup} — must be ≥ 0 (a ratio below 1, or a number of steps).")
    need(c.warmup < 1 or float(c.warmup).is_integer(), f"warmup: {c.warmup} — steps must be a whole number.")
    need(c.weight_decay >= 0, f"weight_decay: {c.weight_decay} — must be ≥ 0.")
    need(c.num_epochs > 0 or c.max_steps > 0, "num_epochs: must be > 0 unless max_steps is set.")
    need(c.max_steps == -1 or c.max_steps >= 1, f"max_steps: {c.max_steps} — use -1 (all epochs) or ≥ 1.")
    need(c.per_device_batch_size >= 1, f"per_device_batch_size: {c.per_device_batch_size} — must be ≥ 1.")
    need(0 <= c.num_processes <= 1024, f"num_processes: {c.num_processes} — 0 (as the devices say) or 1 to 1024.")
    need(
        re.fullmatch(r"(\d+)(,\d+)*", c.gpus.replace(" ", "")) is not None or not c.gpus.strip(),
        f"gpus: {c.gpus!r} — GPU numbers separated by commas, e.g. '0,2' (empty: every visible GPU).",
    )
    need(
        not c.gpus.strip() or c.num_processes in (0, len(c.chosen_gpus())),
        f"num_processes: {c.num_processes} with gpus {c.gpus!r} — one process per chosen GPU "
        f"({len(c.chosen_gpus())}), or 0.",
    )
    need(
        c.gradient_accumulation_steps >= 1,
        f"gradient_accumulation_steps: {c.gradient_accumulation_steps} — must be ≥ 1.",
    )
    need(16 <= c.max_length <= 131072, f"max_length: {c.max_length} — must be between 16 and 131072 tokens.")
    need(c.precision in PRECISIONS, f"precision: {c.precision!r} is not one of {', '.join(PRECISIONS)}.")
    need(c.eval_steps >= 0, f"eval_steps: {c.eval_steps} — must be ≥ 0 (0: once per epoch).")
    need(c.save_steps >= 0, f"save_steps: {c.save_steps} — must be ≥ 0 (0: once per epoch).")
    need(c.logging_steps >= 1, f"logging_steps: {c.logging_steps} — must be ≥ 1.")
    need(
        c.chat_template in CHAT_TEMPLATES,
        f"chat_template: {c.chat_template!r} is not one of {', '.join(CHAT_TEMPLATES)}.",
    )
    need(c.task_metric in TASK_METRICS, f"task_metric: {c.task_metric!r} is not one of {', '.join(TASK_METRICS)}.")
    need(c.task_check_rows >= 1, f"task_check_rows: {c.task_check_rows} — must be ≥ 1 (typical: 8-32).")
    need(c.task_check_steps >= 0, f"task_check_steps: {c.task_check_steps} — must be ≥ 0 (0: twice per epoch).")
    need(0 <= c.stop_at <= 1, f"stop_at: {c.stop_at} — a share between 0 and 1 (0: no target), e.g. 0.95.")
    need(c.stop_patience >= 0, f"stop_patience: {c.stop_patience} — must be ≥ 0 (0: no patience rule).")
    need(0 <= c.prune_margin <= 1, f"prune_margin: {c.prune_margin} — a share between 0 and 1 (0: never prune).")
    need(
        c.task_metric != "off" or (c.stop_at == 0 and c.stop_patience == 0 and c.prune_margin == 0),
        "stop_at, stop_patience, prune_margin: they stop on the task metric, which is off — set task_metric "
        "(e.g. auto).",
    )
    need(
        c.task_metric == "off" or c.objective in ("sft", "grpo"),
        f"task_metric: checks score answers against reference answers, which a {c.objective} dataset does not "
        "have — set task_metric off (the run from which it starts was scored that way).",
    )
    need(
        not (c.method == "qlora" and c.precision == "fp32"),
        "precision: fp32 with QLoRA — 4-bit bases compute in bf16/fp16; use 'auto'.",
    )
    return problems


def _grpo_problems(c: TrainConfig) -> list[str]:
    problems = rewards.problems(c.rewards, rewards.RewardSettings(c.reward_pattern, c.reward_max_chars))
    if c.num_generations < 2:
        problems.append(
            f"num_generations: {c.num_generations} — GRPO compares answers to one prompt: at least 2 (typical 4-8)."
        )
    elif (c.per_device_batch_size * c.gradient_accumulation_steps) % c.num_generations:
        problems.append(
            f"num_generations: {c.num_generations} does not divide batch × accumulation "
            f"({c.per_device_batch_size} × {c.gradient_accumulation_steps}): each step takes whole groups — set "
            f"per_device_batch_size to {c.num_generations} (or a multiple of it)."
        )
    if not 8 <= c.max_completion_length <= 32768:
        problems.append(f"max_completion_length: {c.max_completion_length} — between 8 and 32768 tokens.")
    if not 0 < c.temperature <= 2:
        problems.append(f"temperature: {c.temperature} — above 0 and at most 2 (GRPO samples; typical 0.7-1.2).")
    return problems


def apply_preset(config: TrainConfig, preset: BasePreset) -> TrainConfig:
    """`config` with the preset's recommended target modules and max length; everything else is kept."""
    return config.with_updates(target_modules=preset.target_modules, max_length=preset.max_length)
