import streamlit as st

from ui.placeholder import coming_soon

st.title("Train")
coming_soon(
    "Pick a dataset revision and a base model (the demo model, a prepared model, a local folder or a "
    "Hugging Face id), choose LoRA or QLoRA with sensible defaults and a memory estimate, and launch a run "
    "that trains in the background. Loss, eval loss, speed and memory then update live on a chart; "
    "runs can be cancelled, resumed and queued.",
    issue="Training",
)
