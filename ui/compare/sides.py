"""Which two sides are compared, and the one cached engine they share (one base in memory at a time)."""

from __future__ import annotations

import streamlit as st

from ui.links import keep_in_url, new_in_url
from workbench import paths
from workbench.inference.engine import Engine
from workbench.training.runs import adapter_choices

BASE_SIDE = "__base__"


@st.cache_resource(max_entries=1, show_spinner="Loading the base model…", on_release=lambda e: e.unload())
def engine_for(base: str, quantization: str = "none") -> Engine:
    """One base per (base, quantization); switching base releases the previous one's memory."""
    return Engine(base, quantization=quantization)


def pick_sides() -> tuple[str, list[dict], str, str] | None:
    """The base, the adapters on it, and the left and right side (BASE_SIDE or an adapter run name)."""
    adapters = adapter_choices()
    if not adapters:
        st.info("No trained adapter yet: train one on the Train page, then compare it with its base here.")
        return None
    bases = list(dict.fromkeys(a["base_model"] for a in adapters))
    _follow_run_link(adapters)
    base = st.selectbox(
        "Base model", bases, key="cmp_base", help="Sides share one loaded base; adapters are switched per request."
    )
    on_base = [a for a in adapters if a["base_model"] == base]
    on_base += [c for a in on_base for c in _checkpoints(a)]
    options = [BASE_SIDE, *[a["name"] for a in on_base]]
    label = {BASE_SIDE: f"{base} (base, no adapter)"}

    def fmt(option: str) -> str:
        return label.get(option, f"adapter: {option}")

    left, right = st.columns(2)
    for key in ("cmp_left", "cmp_right"):
        if key in st.session_state and st.session_state[key] not in options:
            del st.session_state[key]  # an adapter of another base, or deleted since
    left_index = {} if "cmp_left" in st.session_state else {"index": 0}
    left_side = left.selectbox("Left", options, format_func=fmt, key="cmp_left", **left_index)
    # index only when nothing is chosen yet: a value a link put in the session state must not meet a default
    right_index = {} if "cmp_right" in st.session_state else {"index": 1}
    right_side = right.selectbox("Right", options, format_func=fmt, key="cmp_right", **right_index)
    adapter_side = next((s.split("@")[0] for s in (right_side, left_side) if s != BASE_SIDE), None)
    run_ids = {a["name"]: a["run_id"] for a in adapters}
    keep_in_url("run", "cmp_run", str(run_ids[adapter_side]) if adapter_side else None)
    return base, on_base, left_side, right_side


def _follow_run_link(adapters: list[dict]) -> None:
    """`?run=ID` opens that run's adapter on the right, on its base; `&against=ID` another run's on the left
    (the Experiments page's "compare the best two")."""
    by_id = {str(a["run_id"]): a for a in adapters}
    asked = by_id.get(new_in_url("run", "cmp_run") or "")
    if asked:
        st.session_state["cmp_base"] = asked["base_model"]
        st.session_state["cmp_right"] = asked["name"]
        other = by_id.get(st.query_params.get("against") or "")
        if other and other["base_model"] == asked["base_model"]:
            st.session_state["cmp_left"] = other["name"]


def _checkpoints(adapter: dict) -> list[dict]:
    """The run's intermediate checkpoints, each usable as a side ("run@checkpoint-40")."""
    folder = paths.checkpoints_dir(adapter["name"])
    found = sorted(
        (p for p in folder.glob("checkpoint-*") if (p / "adapter_model.safetensors").exists()),
        key=lambda p: int(p.name.rsplit("-", 1)[-1]),
    )
    return [{**adapter, "name": f"{adapter['name']}@{p.name}", "adapter_dir": str(p)} for p in found]


def attach_sides(engine: Engine, on_base: list[dict], sides: list[str]) -> list[str | None]:
    """Attach the sides' adapters (once each) and return the engine's adapter name per side."""
    by_name = {a["name"]: a for a in on_base}
    return [None if side == BASE_SIDE else engine.attach(by_name[side]["adapter_dir"], side) for side in sides]
