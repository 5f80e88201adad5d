"""The Runs page pieces: the table of runs with selection, and one run's actions."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from ui.train.config_form import load_config
from workbench.data import repository
from workbench.errors import WorkbenchError
from workbench.evaluation import results as eval_results
from workbench.training import runs
from workbench.training.objectives import OBJECTIVES


def _row(run: dict) -> dict:
    metrics = runs.final_metrics(run["id"])
    seconds = runs.duration_seconds(run)
    try:
        dataset, revision = repository.revision_by_id(run["dataset_revision_id"])
        data = f"{dataset} r{revision.n}"
    except Exception:  # the dataset was deleted, or an imported adapter named none: the run still lists
        data = "(none)" if run["dataset_revision_id"] is None else "(deleted)"
    return {
        "id": run["id"],
        "run": run["name"],
        "status": run["status"],
        "base": run["base_model"],
        "objective": _objective(run),
        "dataset": data,
        "duration": f"{seconds / 60:.1f} min" if seconds else "",
        "loss": metrics.get("loss"),
        "eval loss": metrics.get("eval_loss"),
        **_deltas(run["id"]),
        "created": run["created"],
    }


def _objective(run: dict) -> str:
    """SFT, DPO, ORPO or KTO, and the run it went on from."""
    config = runs.run_config(run)
    label = OBJECTIVES[config.objective].label
    return f"{label} from {config.start_from}" if config.start_from else label


def _deltas(run_id: int) -> dict:
    """Base → adapter on held-out rows, from the run's latest evaluation."""
    scores = {r["metric"]: r for r in eval_results.results(run_id)}

    def arrow(metric: str, percent: bool = True) -> str:
        row = scores.get(metric)
        if not row or row["base"] is None or row["adapter"] is None:
            return ""
        if percent:
            return f"{row['base']:.0%} → {row['adapter']:.0%}"
        return f"{row['base']:.3f} → {row['adapter']:.3f}"

    return {
        "exact match": arrow("exact_match"),
        "valid JSON": arrow("json_valid"),
        "field F1": arrow("field_f1", percent=False),
    }


def runs_table(all_runs: list[dict]) -> list[int]:
    """Show every run; returns the ids the user selected (several overlay their curves)."""
    frame = pd.DataFrame([_row(r) for r in all_runs])
    frame["created"] = pd.to_datetime(frame["created"], utc=True, errors="coerce")
    for column in ("loss", "eval loss"):  # numbers, with gaps where a run logged none (not the text "None")
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    event = st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="multi-row",
        key="runs_table",
        column_config={
            "id": None,
            # 4 significant digits (a GRPO loss of 1e-5 read 0.0000), wide enough for 0.000006761 (it was cut to
            # "0006761" in a narrow column)
            "loss": st.column_config.NumberColumn(format="%.4g", width="medium"),
            "eval loss": st.column_config.NumberColumn(format="%.4g", width="medium"),
            "created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm", width="medium"),  # was cut
        },
    )
    st.caption("Select several rows to overlay their loss curves.")
    return [int(frame.iloc[i]["id"]) for i in event.selection.rows]


def run_actions(run_id: int) -> None:
    run = runs.get_run(run_id)
    cols = st.columns(4)
    if run["status"] in ("queued", "running") and cols[0].button("Cancel", key=f"runs_cancel_{run_id}"):
        runs.cancel_run(run_id)
        st.rerun()
    resumable = run["status"] in ("interrupted", "failed", "cancelled")
    checkpoint = runs.latest_checkpoint(run["name"]) if resumable else None
    label = f"Resume from {checkpoint.name}" if checkpoint else "Start again (no checkpoint was saved)"
    if resumable and cols[0].button(label, key=f"runs_resume_{run_id}"):
        try:
            runs.resume_run(run_id)
        except WorkbenchError as exc:  # resumed meanwhile from another tab or the CLI
            st.error(str(exc))
        else:
            st.rerun()
    if cols[1].button("Clone config into a new run", key=f"runs_clone_{run_id}"):
        config = runs.run_config(run)
        load_config(config)
        st.session_state["train_dataset"] = config.dataset
        st.switch_page("pages/train.py")
    with cols[2].popover("Delete"):
        st.write(f"Delete **{run['name']}**, its checkpoints and its adapter? This cannot be undone.")
        if st.button("Yes, delete", key=f"runs_delete_{run_id}", type="primary"):
            try:
                runs.delete_run(run_id)
            except runs.RunError as exc:
                st.error(str(exc))
            else:
                st.session_state.pop("runs_focus", None)
                st.rerun()
    with cols[3].popover("Config"):
        st.code(json.dumps(json.loads(run["config_json"]), indent=2), language="json")
