"""What the run learns from: the objective that fits the dataset's kind, the adapter it starts from, and the
objective's own settings (preference: beta, loss, KTO weights; GRPO: rewards, generations). Widget keys are the
form's `tc_<field>`."""

from __future__ import annotations

import streamlit as st

from ui.train.config_form import START_FROM_DEFAULTED_FOR
from workbench.data.records import KIND_PURPOSE
from workbench.training import rewards, runs
from workbench.training.config import LOSS_TYPES, OBJECTIVE_DEFAULTS, OBJECTIVE_SETTINGS, TrainConfig, with_objective
from workbench.training.objectives import OBJECTIVES, objectives_for_kind

NEW_ADAPTER = ""
DEFAULTED_FOR = START_FROM_DEFAULTED_FOR  # "tc_": kept with the form's values across pages


def objective_settings(kind: str, base: str, recipe: TrainConfig, dataset: str = "") -> dict:
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
    defaults = OBJECTIVE_DEFAULTS[objective]
    if objective == "grpo":
        left.caption(
            f"GRPO starts at learning rate {defaults['learning_rate']:g} for {defaults['max_steps']} steps of one "
            f"prompt × {defaults['per_device_batch_size']} sampled answers (sized for a CPU: a step samples and "
            "scores answers before it learns)."
        )
    elif objective != "sft":
        left.caption(
            f"{OBJECTIVES[objective].label} starts at learning rate {defaults['learning_rate']:g}, "
            f"{defaults['num_epochs']:g} epoch (measured: a higher rate unlearned the task)."
        )
    if kind not in ("preference", "feedback") and objective == "sft":
        left.caption(
            f"This dataset holds {KIND_PURPOSE[kind]}; GRPO reinforces its answers by your metrics, preference "
            "datasets train DPO, ORPO or KTO."
        )
    values = {"objective": objective, "start_from": _start_from(right, base, objective, dataset)}
    if objective == "grpo":
        _fit_rewards(dataset)
        values.update(_grpo_settings(dataset))
    elif objective != "sft":
        values.update(_preference_settings(objective))
    return values


def _use_defaults(recipe: TrainConfig) -> None:
    """The selected objective's learning rate, epochs, loss and answer checks into the form's widgets."""
    objective = st.session_state["tc_objective"]
    current = TrainConfig(learning_rate=st.session_state.get("tc_learning_rate", recipe.learning_rate))
    updated = with_objective(current, objective, recipe)
    for name in OBJECTIVE_SETTINGS:
        st.session_state[f"tc_{name}"] = getattr(updated, name)


def _start_from(column, base: str, objective: str, dataset: str = "") -> str:
    finished = [a for a in runs.adapter_choices(base) if a["status"] == "completed"]
    names = [NEW_ADAPTER, *(a["name"] for a in finished)]
    configs = {a["name"]: runs.run_config(runs.get_run(a["run_id"])) for a in finished}
    objectives = {name: config.objective for name, config in configs.items()}
    if st.session_state.get("tc_start_from") not in names or st.session_state.get(DEFAULTED_FOR) != objective:
        # A preference run goes on from the newest supervised run of this base, the adapter whose answers the
        # pairs correct; GRPO from the newest supervised run on this dataset (from a base that never writes the
        # format, every sampled answer scores 0); a supervised run starts a new adapter. Said once per objective:
        # the user's pick stays.
        same_data = objective == "grpo"
        sft = next(
            (n for n in names[1:] if objectives[n] == "sft" and (not same_data or configs[n].dataset == dataset)),
            NEW_ADAPTER,
        )
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
        column.caption(f"Run {choice}'s LoRA shape (rank, targets) goes on: the LoRA settings below are greyed out.")
    if objective in ("dpo", "kto", "grpo"):
        column.caption(
            "Reference: "
            + (f"run {choice}'s adapter as it is now (a frozen copy)." if choice else "the base model itself.")
        )
    if objective == "grpo" and not choice:
        column.warning(
            "GRPO from a new adapter: unless the base already answers in the task's format, every sampled answer "
            "scores 0 and there is nothing to learn. Start from a completed SFT run on this dataset."
        )
    return choice


FITTED_FOR, FITTED_NOTE = "grpo_rewards_fitted_for", "grpo_rewards_fitted"


def _fit_rewards(dataset: str) -> None:
    """Once per dataset: rewards that fit its answers in place of ones it would refuse (the default JSON rewards on
    text answers), before the widgets are drawn. A choice the user makes afterwards stays theirs."""
    if not dataset or st.session_state.get(FITTED_FOR) == dataset:
        return
    st.session_state[FITTED_FOR] = dataset
    current = str(st.session_state.get("tc_rewards") or "")
    fitted = runs.fitting_rewards(TrainConfig(dataset=dataset, objective="grpo", rewards=current))
    if not fitted:
        return
    chosen = rewards.parse(fitted)
    st.session_state["tc_rewards"] = fitted
    st.session_state["grpo_reward_names"] = [name for name, _ in chosen]
    for name, weight in chosen:
        st.session_state[f"grpo_weight_{name}"] = float(weight)
    st.session_state[FITTED_NOTE] = (dataset, _labels(rewards.parse(current)), _labels(chosen))


def _grpo_settings(dataset: str = "") -> dict:
    """The rewards (picked from the evaluation's metrics, each with a weight) and the sampling settings."""
    note = st.session_state.get(FITTED_NOTE)
    if note and note[0] == dataset:
        st.caption(
            f"Rewards fitted to {dataset!r}: its answers are text, not JSON, so {note[2]} (the held-out "
            f"evaluation's metric for text) in place of {note[1]}."
        )
    chosen = _parsed_rewards()
    if "grpo_reward_names" not in st.session_state:
        st.session_state["grpo_reward_names"] = [name for name, _ in chosen]
    names = st.multiselect(
        "Rewards",
        list(rewards.REWARDS),
        key="grpo_reward_names",
        format_func=lambda name: rewards.REWARDS[name].label,
        help=TrainConfig.help("rewards"),
    )
    weights = dict(chosen)
    parts = []
    if names:
        columns = st.columns(len(names))
        for column, name in zip(columns, names, strict=True):
            st.session_state.setdefault(f"grpo_weight_{name}", float(weights.get(name, 1.0)))
            weight = column.number_input(
                f"Weight of {rewards.REWARDS[name].label}",
                min_value=0.0,
                step=0.25,
                key=f"grpo_weight_{name}",
                help=rewards.REWARDS[name].help,
            )
            parts.append(f"{name}:{weight:g}")
    values: dict = {"rewards": ",".join(parts)}
    if "regex" in names:
        values["reward_pattern"] = st.text_input(
            "Pattern answers must match", key="tc_reward_pattern", help=TrainConfig.help("reward_pattern")
        )
    if "length" in names:
        values["reward_max_chars"] = int(
            st.number_input(
                "Longest answer (characters)",
                key="tc_reward_max_chars",
                step=10,
                help=TrainConfig.help("reward_max_chars"),
            )
        )
    columns = st.columns(5)
    for column, name, label, step in (
        (columns[0], "num_generations", "Answers per prompt", 1),
        (columns[1], "max_completion_length", "Longest answer (tokens)", 16),
        (columns[2], "temperature", "Temperature", 0.1),
        (columns[3], "beta", "Beta (KL)", 0.01),
    ):
        value = column.number_input(label, key=f"tc_{name}", step=step, help=TrainConfig.help(name))
        values[name] = value
    losses = LOSS_TYPES["grpo"]
    if st.session_state.get("tc_loss_type") not in ("auto", *losses):
        st.session_state["tc_loss_type"] = "auto"
    values["loss_type"] = columns[4].selectbox(
        "Loss", ("auto", *losses), key="tc_loss_type", help=TrainConfig.help("loss_type")
    )
    return values


def _labels(chosen: list[tuple[str, float]]) -> str:
    return " and ".join(rewards.REWARDS[name].label for name, _ in chosen)


def _parsed_rewards() -> list[tuple[str, float]]:
    try:
        return rewards.parse(str(st.session_state.get("tc_rewards") or ""))
    except rewards.RewardError:
        return []


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
