import streamlit as st

from ui.placeholder import coming_soon

st.title("Compare")
coming_soon(
    "Chat with the base model and a trained adapter side by side, both answers streaming at once, and score "
    "both on held-out rows (exact match, JSON validity, field F1, ROUGE-L) to see what training changed.",
    issue="Compare",
)
