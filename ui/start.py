"""The start page: the four steps from a dataset to a published model, where the user stands in each, the
one next action, and what this machine can do."""

from __future__ import annotations

import streamlit as st

from ui.sidebar import device, ollama
from workbench import journey
from workbench.models.loading import list_local_models

ICONS = {True: ":material/check_circle:", False: ":material/radio_button_unchecked:"}


def render_start() -> None:
    st.title("LoRA Workbench")
    st.caption("Your own specialised model, trained on this machine: nothing you write here leaves it.")
    steps = journey.steps()
    upcoming = journey.next_step(steps)
    columns = st.columns(len(steps))
    for number, (column, step) in enumerate(zip(columns, steps, strict=True), 1):
        with column.container(border=True):
            st.markdown(f"{ICONS[step.done]} **{number}. {step.name}**")
            st.caption(step.status)
            if st.button(f"Open {step.name}", key=f"start_open_{step.name}", width="stretch"):
                st.switch_page(step.page)
    if upcoming is None:
        st.success(
            "Every step is done: train again with more rows, or compare another run.", icon=":material/done_all:"
        )
    else:
        st.markdown(f"**Next:** {upcoming.action}.")
        if st.button(f"Go to {upcoming.name}", key="start_next", type="primary", icon=":material/arrow_forward:"):
            st.switch_page(upcoming.page)
        if upcoming.name == "Dataset" and journey.only_the_sample():
            st.caption("Or see the whole journey first on the sample dataset, then come back with your own rows.")
            if st.button("Try it on the sample", key="start_sample", icon=":material/science:"):
                st.switch_page("pages/train.py")
    _machine()


def _machine() -> None:
    st.subheader("This machine")
    info, server = device(), ollama()
    models = [m["name"] for m in list_local_models()]
    st.markdown(
        f"- **Device:** {info.label}"
        + ("" if info.kind == "cuda" else " — training uses the CPU preset (minutes for a few hundred short rows)")
        + f"\n- **Prepared models:** {', '.join(models) if models else 'none yet (see Models)'}"
        + f"\n- **Ollama:** {server.label}"
    )
