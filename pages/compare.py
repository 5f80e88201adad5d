"""Compare: the base and an adapter (or two adapters of one base) side by side — live chat, held-out scores,
and answers over a whole file. `?run=ID` puts a run on the right, `&against=ID` another on the left."""

import streamlit as st

from ui.compare.chat import render_chat, settings_form
from ui.compare.evaluation import render_evaluation
from ui.compare.mistakes import render_mistakes
from ui.compare.predict import render_predict
from ui.compare.sides import BASE_SIDE, attach_sides, engine_for, pick_sides
from ui.frame import require_app_frame
from workbench.training import runs

require_app_frame()

st.title("Compare")
picked = pick_sides()
if picked is None:
    st.stop()
base, on_base, left, right = picked
adapter_run = next((s for s in (right, left) if s != BASE_SIDE), None)
section = st.segmented_control(
    "Section",
    ["Chat", "Held-out evaluation", "Mistakes", "Predict over a file"],
    default="Chat",
    key="cmp_section",
    label_visibility="collapsed",
)

if section == "Held-out evaluation":
    if adapter_run is None:
        st.info("Pick an adapter on one side to evaluate it against the base.")
    elif BASE_SIDE not in (left, right) and "@" not in left + right and left != right:
        render_evaluation(right, against_name=left)  # adapter against adapter
    else:
        render_evaluation(adapter_run.split("@")[0])
elif section == "Mistakes":
    if adapter_run is None:
        st.info("Pick an adapter on one side: its mistakes become preference pairs.")
    else:
        render_mistakes(adapter_run.split("@")[0])
elif section == "Predict over a file":
    render_predict(base, on_base, adapter_run.split("@")[0] if adapter_run else None)
else:
    trained_system = runs.run_config(runs.get_run(adapter_run.split("@")[0])).system_prompt if adapter_run else ""
    settings = settings_form(trained_system)
    engine = engine_for(base)
    adapter_names = attach_sides(engine, on_base, [left, right])
    labels = [f"{base} (base)" if s == BASE_SIDE else f"{s} (adapter)" for s in (left, right)]
    render_chat(engine, [left, right], adapter_names, settings, labels)
