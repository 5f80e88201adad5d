"""The Train page's "Sweep": the settings above as the base, up to three of them varied over lists of values
(grid) or drawn at random from ranges, shown as the runs and the time it makes before anything starts."""

from __future__ import annotations

import streamlit as st

from ui.links import page_link
from workbench.errors import WorkbenchError
from workbench.experiments import group
from workbench.experiments.estimate import estimate_lines
from workbench.experiments.sweep import MAX_VARIED, VARIABLE, SweepError, SweepSpec
from workbench.training.config import TrainConfig

NONE = "—"
MODES = ("Lists of values (every combination)", "Random trials over ranges")
PRUNE_MARGIN = 0.2
EXAMPLES = {"learning_rate": "5e-4, 1e-3, 2e-3", "lora_r": "8, 16, 32", "num_epochs": "1, 2, 3"}


def sweep_panel(config: TrainConfig, problems: list[str]) -> None:
    started = st.session_state.get("sweep_started")
    if started:
        st.success(f"Experiment **{started}** queued: its runs start one after another.", icon=":material/stacks:")
        page_link("pages/experiments.py", "Open it on the Experiments page", experiment=started)
    filled = any(st.session_state.get(f"sweep_values_{row}") for row in range(MAX_VARIED))
    with st.expander(
        "Sweep: several runs of these settings, a few varied, ranked by the held-out score", expanded=filled
    ):
        mode = st.radio("Vary by", MODES, key="sweep_mode", horizontal=True)
        random_trials = mode == MODES[1]
        spec = _spec(random_trials)
        if spec is None:
            return
        try:
            trials = spec.check().configs(config)
        except SweepError as exc:
            st.error(str(exc))
            return
        left, middle, right = st.columns([2, 1, 1])
        name = left.text_input("Experiment name", key="sweep_name", placeholder=f"{config.dataset}-sweep")
        metric = middle.selectbox("Rank by", group.RANK_METRICS, key="sweep_metric")
        if config.task_metric != "off" and st.checkbox(
            f"Prune runs that fall behind (by {PRUNE_MARGIN:g} from their second check)",
            key="sweep_prune",
            help=TrainConfig.help("prune_margin"),
        ):
            config = config.with_updates(prune_margin=PRUNE_MARGIN)
            trials = [(trial, run.with_updates(prune_margin=PRUNE_MARGIN)) for trial, run in trials]
        st.markdown(
            f"**{len(trials)} runs**, one after another on this device, each evaluated on the same held-out rows:"
        )
        st.code("\n".join(group.plan_lines(trials)), language=None)
        for line in _estimate(config, trials):
            st.caption(line)
        if right.button(
            "Start sweep",
            key="sweep_start",
            type="primary",
            icon=":material/stacks:",
            disabled=bool(problems),
            help="Fix the settings above first" if problems else None,
        ):
            try:
                group.create_experiment(name.strip() or f"{config.dataset}-sweep", config, spec, metric)
            except (WorkbenchError, ValueError) as exc:
                st.error(str(exc))
                return
            st.session_state["sweep_started"] = name.strip() or f"{config.dataset}-sweep"
            st.rerun()


def _spec(random_trials: bool) -> SweepSpec | None:
    """The sweep the widgets describe, or None (with what is missing said) while they describe none."""
    pairs = []
    for row in range(MAX_VARIED):
        left, right = st.columns([1, 3])
        key = left.selectbox(f"Setting {row + 1}", [NONE, *VARIABLE], key=f"sweep_key_{row}")
        hint = "low:high, or low:high:log for a learning rate" if random_trials else EXAMPLES.get(key, "a, b, c")
        values = right.text_input(f"Values {row + 1}", key=f"sweep_values_{row}", placeholder=hint)
        if key != NONE and values.strip():
            pairs.append(f"{key}={values.replace(' ', '')}")
    trials = 0
    if random_trials:
        trials = int(st.number_input("Trials", min_value=1, max_value=48, value=4, key="sweep_trials"))
    if not pairs:
        st.caption("Pick a setting and its values to see the runs this makes.")
        return None
    try:
        if random_trials:
            return SweepSpec.parse([], pairs, trials, seed=0)
        return SweepSpec.parse(pairs)
    except SweepError as exc:
        st.error(str(exc))
        return None


@st.cache_data(show_spinner="Estimating the time…", max_entries=8, ttl=60)
def _estimate_cached(_config: TrainConfig, _trials: list, key: str) -> list[str]:
    return estimate_lines(_config, _trials)


def _estimate(config: TrainConfig, trials: list) -> list[str]:
    key = config.to_json() + "|" + "|".join(trial.to_json() for _, trial in trials)
    return _estimate_cached(config, trials, key)
