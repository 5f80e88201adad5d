"""What the run learns from: the objective that fits the dataset's kind, the adapter it starts from, and the
preference settings (beta, loss, KTO weights). Widget keys are the form's `tc_<field>`."""

from __future__ import annotations

import streamlit as st

from ui.train.config_form import START_FROM_DEFAULTED_FOR
from workbench.data.records import KIND_PURPOSE
from workbench.training import runs
from workbench.training.config import LOSS_TYPES, NO_TASK_CHECKS, OBJECTIVE_DEFAULTS, TrainConfig, with_objective
from workbench.training.objectives import OBJECTIVES, objectives_for_kind

NEW_ADAPTER = ""
DEFAULTED_FOR = START_FROM_DEFAULTED_FOR  # "tc_": kept with the form's values across pages


def objective_settings(kind: str, base: str, recipe: TrainConfig) -> dict:
    """Draw the objective's choices for a dataset of stored `kind`; returns the TrainConfig fields they set.
    A change of objective puts its own learning rate and epochs in the form (`recipe`'s for SFT)."""
    fitting = [o.name for o in objectives_for_kind(kind)]
    if st.session_state.get("tc_objective") not in fitting:
        st.session_state["tc_objective"] = fitting[0]
        _use_defaults(recipe)
    left, right = st.columns(2)
    objective = left.selectbox(
        "Objective",
        fitting,
        key="tc_objective",
        format_func=lambda name: f"{OBJECTIVES[name].label}: {OBJECTIVES[name].learns}",
        help=TrainConfig.help("objective"),
        on_change=_use_defaults,
        args=(recipe,),
    )
    if objective != "sft":
        defaults = OBJECTIVE_DEFAULTS[objective]
        left.caption(
            f"{OBJECTIVES[objective].label} starts at learning rate {defaults['learning_rate']:g}, "
            f"{defaults['num_epochs']:g} epoch (bench/preference_round.py: a higher rate unlearned the task)."
        )
    if len(fitting) == 1 and objective == "sft":
        left.caption(f"This dataset holds {KIND_PURPOSE[kind]}; preference datasets train DPO, ORPO or KTO.")
    values = {"objective": objective, "start_from": _start_from(right, base, objective)}
    if objective != "sft":
        values.update(_preference_settings(objective))
    return values


def _use_defaults(recipe: TrainConfig) -> None:
    """The selected objective's learning rate, epochs, loss and answer checks into the form's widgets."""
    objective = st.session_state["tc_objective"]
    current = TrainConfig(learning_rate=st.session_state.get("tc_learning_rate", recipe.learning_rate))
    updated = with_objective(current, objective, recipe)
    for name in ("learning_rate", "num_epochs", "loss_type", *NO_TASK_CHECKS):
        st.session_state[f"tc_{name}"] = getattr(updated, name)


def _start_from(column, base: str, objective: str) -> str:
    finished = [a for a in runs.adapter_choices(base) if a["status"] == "completed"]
    names = [NEW_ADAPTER, *(a["name"] for a in finished)]
    objectives = {a["name"]: runs.run_config(runs.get_run(a["run_id"])).objective for a in finished}
    if st.session_state.get("tc_start_from") not in names or st.session_state.get(DEFAULTED_FOR) != objective:
        # A preference run goes on from the newest supervised run of this base, the adapter whose answers the
        # pairs correct; a supervised run starts a new adapter. Said once per objective: the user's pick stays.
        sft = next((n for n in names[1:] if objectives[n] == "sft"), NEW_ADAPTER)
        if st.session_state.get("tc_start_from") not in names or objective != "sft":
            st.session_state["tc_start_from"] = sft if objective != "sft" else NEW_ADAPTER
        st.session_state[DEFAULTED_FOR] = objective
    choice = column.selectbox(
        "Start from",
        names,
        key="tc_start_from",
        format_func=lambda n: "a new adapter on the base" if n == NEW_ADAPTER else f"run {n} ({objectives[n]})",
        help=TrainConfig.help("start_from"),
    )
    if choice:
        column.caption(f"Run {choice}'s LoRA shape (rank, targets) goes on: the LoRA settings below are not used.")
    if objective in ("dpo", "kto"):
        column.caption(
            "Reference: "
            + (f"run {choice}'s adapter as it is now (a frozen copy)." if choice else "the base model itself.")
        )
    return choice


def _preference_settings(objective: str) -> dict:
    columns = st.columns(4)
    values = {"beta": float(columns[0].number_input("Beta", key="tc_beta", help=TrainConfig.help("beta"), step=0.05))}
    losses = LOSS_TYPES.get(objective)
    if losses:
        if st.session_state.get("tc_loss_type") not in ("auto", *losses):
            st.session_state["tc_loss_type"] = "auto"
        values["loss_type"] = columns[1].selectbox(
            "Loss", ("auto", *losses), key="tc_loss_type", help=TrainConfig.help("loss_type")
        )
    if objective == "kto":
        for column, name, label in (
            (columns[2], "desirable_weight", "Weight of good answers"),
            (columns[3], "undesirable_weight", "Weight of bad answers"),
        ):
            values[name] = float(column.number_input(label, key=f"tc_{name}", help=TrainConfig.help(name), step=0.1))
    return values
