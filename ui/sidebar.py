"""The sidebar: device, Ollama, every job in progress (with cancel), and the demo model at a glance."""

from __future__ import annotations

import streamlit as st

from ui.links import run_view_link
from workbench import system
from workbench.data import repository
from workbench.jobs import queue, registry
from workbench.models import demo

MAX_JOBS_SHOWN = 6


@st.cache_data(ttl=30, show_spinner=False)
def device() -> system.DeviceInfo:
    """The compute device and its free memory, read at most every 30 seconds."""
    return system.device_info()


@st.cache_resource(show_spinner=False)
def _startup_checks() -> bool:
    """Once per server start: jobs whose worker died while the app was down become interrupted, and what
    was queued meanwhile starts."""
    queue.schedule()
    repository.sync_current_files()  # a save cut short by a crash: the latest file is copied again
    return True


@st.cache_data(ttl=15, show_spinner=False)
def ollama() -> system.OllamaStatus:
    return system.ollama_status(timeout=0.3)


def render_sidebar() -> None:
    with st.sidebar:
        st.caption("**Status**")
        _startup_checks()
        device_info = device()
        st.markdown(f":material/memory: **Device:** {device_info.label}")
        ollama_state = ollama()
        st.markdown(f":{'green' if ollama_state.reachable else 'red'}[:material/smart_toy:] {ollama_state.label}")
        _jobs()
        _demo_model()


def _jobs() -> None:
    registry.sweep_lost()  # reaps the workers this server started, and marks killed ones interrupted
    active = registry.active()
    st.markdown(
        f":material/directions_run: **Jobs in progress:** {len(active)}"
        if active
        else ":material/bedtime: No jobs in progress"
    )
    for job in active[:MAX_JOBS_SHOWN]:
        st.caption(f"• {queue.describe(job)}")
        links = st.container(horizontal=True, vertical_alignment="center")
        if job["run_id"] and job["kind"] in ("train", "evaluate"):
            run_view_link(job["run_id"], where=links)
        # Labelled, not an icon alone: a × in a narrow column was cut to "›" (read as "open").
        if job["status"] != "cancelling" and links.button(
            "Cancel",
            icon=":material/close:",
            type="tertiary",
            key=f"sidebar_cancel_{job['id']}",
            help=f"Cancel: {job['title']}",
        ):
            registry.cancel(job["id"])
            st.rerun()
    if len(active) > MAX_JOBS_SHOWN:
        st.caption(f"… and {len(active) - MAX_JOBS_SHOWN} more")


def _demo_model() -> None:
    if demo.demo_model_path().joinpath("manifest.json").exists():
        st.caption("Demo model: ready (tiny, random weights, built locally)")
        return
    if st.button(
        "Build demo model",
        key="sidebar_build_demo",
        help="A tiny Llama with a locally trained tokenizer: the whole flow works offline on CPU.",
    ):
        with st.spinner("Building the demo model…"):
            demo.build_demo_model()
        st.rerun()
