"""The TrainConfig form: one widget per field, grouped, with each field's help text.

Widget keys are `tc_<field>`. `load_config(config)` queues values to show (from a cloned run, an imported
YAML or a preset); they are applied before the widgets are drawn on the next run.
"""

from __future__ import annotations

import math
from dataclasses import fields

import streamlit as st

from workbench.jobs.devices import gpu_count
from workbench.training.config import (
    CHAT_TEMPLATES,
    METHODS,
    PRECISIONS,
    SCHEDULERS,
    TARGET_MODULE_PRESETS,
    TASK_METRICS,
    TrainConfig,
    describe_placement,
)

BASIC = (
    "method",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "target_modules",
    "learning_rate",
    "num_epochs",
    "max_steps",
    "max_length",
    "per_device_batch_size",
    "gradient_accumulation_steps",
)
# Stop when good (training/task_check.py): the task's own metric on a few held-out rows while training.
STOP_WHEN_GOOD = ("task_metric", "stop_at", "stop_patience", "task_check_rows", "task_check_steps")
# Where it trains (jobs/devices.py, queue.worker_command): one device, chosen GPUs, or several processes.
PLACEMENT = ("num_processes", "gpus")
ADVANCED = (
    "lr_scheduler",
    "warmup",
    "weight_decay",
    "packing",
    "train_on_inputs",
    "gradient_checkpointing",
    "precision",
    "optimizer",
    "seed",
    "eval_steps",
    "save_steps",
    "logging_steps",
    "chat_template",
    "system_prompt",
    "trust_remote_code",
    "auto_evaluate",
)
CHOICES = {
    "method": METHODS,
    "lr_scheduler": SCHEDULERS,
    "precision": PRECISIONS,
    "chat_template": CHAT_TEMPLATES,
    "task_metric": TASK_METRICS,
}
PENDING = "tc_pending"
START_FROM_DEFAULTED_FOR = "tc_start_from_defaulted_for"
LABELS = {
    "lora_r": "LoRA rank (r)",
    "lora_alpha": "LoRA alpha",
    "lora_dropout": "LoRA dropout",
    "lr_scheduler": "LR schedule",
    "per_device_batch_size": "Batch size (per device)",
    "task_metric": "Check answers by",
    "stop_at": "Stop at score",
    "stop_patience": "Patience (checks)",
    "task_check_rows": "Rows per check",
    "task_check_steps": "Check every (steps)",
    "num_processes": "Processes (0: as the devices say)",
    "gpus": "GPUs (empty: all visible)",
}


def load_config(config: TrainConfig) -> None:
    st.session_state[PENDING] = config


def apply_pending(default: TrainConfig) -> None:
    """Put the queued config's values (or the defaults, for keys not set yet) in the widgets' state: before
    anything of the form is drawn."""
    pending = st.session_state.pop(PENDING, None)
    for f in fields(TrainConfig):
        key = f"tc_{f.name}"
        if pending is not None:
            st.session_state[key] = getattr(pending, f.name)
            st.session_state[START_FROM_DEFAULTED_FOR] = pending.objective  # its start_from is the one wanted
        elif key not in st.session_state:
            st.session_state[key] = getattr(default, f.name)


# What a run that goes on from another run's adapter takes from it (its LoRA shape): shown, not editable.
LORA_SHAPE = frozenset({"lora_r", "lora_alpha", "lora_dropout", "target_modules"})


def config_form(default: TrainConfig, fixed: frozenset[str] = frozenset()) -> dict:
    """Draw the settings; returns the values of every TrainConfig field the form owns. `fixed` ones are shown
    greyed out (a run going on from another's adapter uses that adapter's LoRA shape, not these)."""
    apply_pending(default)
    values = {}
    columns = st.columns(4)
    for i, name in enumerate(BASIC):
        with columns[i % 4]:
            values[name] = _widget(name, disabled=name in fixed)
    with st.expander("Stop when good", expanded=st.session_state.get("tc_task_metric", "off") != "off"):
        st.caption(
            "While it trains, the run answers a few held-out rows and scores them like the held-out evaluation; "
            "it keeps its best check's adapter and stops at the score you set, or when the checks stop "
            "improving. Epochs become a maximum."
        )
        columns = st.columns(len(STOP_WHEN_GOOD))
        for column, name in zip(columns, STOP_WHEN_GOOD, strict=True):
            with column:
                values[name] = _widget(name)
    with st.expander("Where it trains", expanded=st.session_state.get("tc_num_processes", 0) > 1):
        columns = st.columns(2)
        for column, name in zip(columns, PLACEMENT, strict=True):
            with column:
                values[name] = _widget(name)
        st.caption(placement_words(values, gpu_count()))
    with st.expander("Advanced settings"):
        columns = st.columns(4)
        for i, name in enumerate(ADVANCED):
            with columns[i % 4]:
                values[name] = _widget(name)
    return values


def check_rows_words(config: TrainConfig, validation_rows: int) -> str | None:
    """What stop when good will check on this dataset, when it differs from the settings' words: fewer held-out
    rows than `task_check_rows` (the preset's "6 of 8" on a dataset of 2), or none at all."""
    if config.task_metric == "off" or validation_rows >= config.task_check_rows:
        return None
    if validation_rows == 0:
        return (
            "This dataset revision holds no validation rows, so no checks: the run does not stop when good or keep a "
            "best check. Make a split on the Datasets page to have them."
        )
    needed = math.ceil(config.stop_at * validation_rows - 1e-9)
    target = f"; the target {config.stop_at:g} means {needed} of {validation_rows} right" if config.stop_at else ""
    rows = validation_rows
    return f"This dataset revision holds {rows} validation rows, so each check answers those {rows}{target}."


def placement_words(values: dict, visible_gpus: int) -> str:
    """Where the run trains and its effective batch, in words."""
    config = TrainConfig(
        num_processes=max(0, int(values.get("num_processes") or 0)),
        gpus=str(values.get("gpus") or ""),
        per_device_batch_size=int(st.session_state.get("tc_per_device_batch_size") or 1),
        gradient_accumulation_steps=int(st.session_state.get("tc_gradient_accumulation_steps") or 1),
    )
    return describe_placement(config, visible_gpus)


def _widget(name: str, disabled: bool = False):
    key, help_text = f"tc_{name}", TrainConfig.help(name)
    label = LABELS.get(name) or name.replace("_", " ").capitalize()
    current = st.session_state[key]
    if name in CHOICES:
        return st.selectbox(label, CHOICES[name], key=key, help=help_text, disabled=disabled)
    if name == "target_modules":
        return _target_modules(key, help_text, disabled)
    if name == "system_prompt":
        return st.text_area(label, key=key, help=help_text, height=80, disabled=disabled)
    if isinstance(current, bool):
        return st.checkbox(label, key=key, help=help_text, disabled=disabled)
    if isinstance(current, int):
        return int(st.number_input(label, key=key, help=help_text, step=1, disabled=disabled))
    if isinstance(current, float):
        fmt = "%.2e" if name == "learning_rate" else "%.3g"
        step = {"learning_rate": 1e-5, "lora_dropout": 0.01, "num_epochs": 0.5, "warmup": 0.01}.get(name, 0.01)
        return float(st.number_input(label, key=key, help=help_text, step=step, format=fmt, disabled=disabled))
    return st.text_input(label, key=key, help=help_text, disabled=disabled)


def _target_modules(key: str, help_text: str, disabled: bool = False) -> str:
    options = [*TARGET_MODULE_PRESETS, "custom"]
    current = st.session_state[key]
    choice_key = f"{key}_choice"
    if choice_key not in st.session_state or (current in TARGET_MODULE_PRESETS) != (
        st.session_state[choice_key] in TARGET_MODULE_PRESETS
    ):
        st.session_state[choice_key] = current if current in TARGET_MODULE_PRESETS else "custom"
    choice = st.selectbox("Target modules", options, key=choice_key, help=help_text, disabled=disabled)
    if choice != "custom":
        st.session_state[key] = choice
        return choice
    if st.session_state[key] in TARGET_MODULE_PRESETS:
        st.session_state[key] = "q_proj,v_proj"
    return st.text_input("Module names (comma separated)", key=key, disabled=disabled)
