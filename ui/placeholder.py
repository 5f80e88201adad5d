"""The notice shown by pages whose feature has not been built yet."""

import streamlit as st


def coming_soon(what: str, issue: str) -> None:
    st.info(f"**Not built yet** (the {issue} issue). This page will let you: {what}", icon="🚧")
    st.caption("Meanwhile, prepare your training data on the Datasets page.")
