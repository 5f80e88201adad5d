"""One experiment: its ranked table (filled in live while its runs go), the curves of its runs coloured by a
setting, the metric against each varied setting, and what to do next: publish the best, compare the best two,
cancel, resume or extend it."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from ui.links import page_link
from ui.train.live import TICK_LABEL, overlay_chart
from workbench.errors import WorkbenchError
from workbench.experiments import group, ranking
from workbench.experiments.sweep import SweepError, SweepSpec
from workbench.training import runs

POLL = "5s"
LABELS = {
    "seconds": "time (s)",
    "tokens_per_second": "tokens/s",
    "eval_loss": "eval loss",
    "exact_match": "exact match",
    "field_f1": "field F1",
    "json_valid": "valid JSON",
    "rouge_l": "ROUGE-L",
    "best_check": "best check",
    "stopped_because": "why it stopped",
}


def experiment_view(name: str) -> None:
    experiment = group.get_experiment(name)
    running = group.status_of(group.experiment_runs(experiment["id"])) == "running"
    st.fragment(run_every=POLL if running else None)(_body)(name, running)


def _body(name: str, polling: bool) -> None:
    runs.mark_interrupted()
    experiment = group.get_experiment(name)
    members = group.experiment_runs(experiment["id"])
    if polling and group.status_of(members) != "running":
        st.rerun()  # it ended: one full rerun draws the final state without the timer
    if polling:
        runs.schedule()
    varied = group.spec_of(experiment).varied
    metric = st.selectbox(
        "Rank by",
        group.RANK_METRICS,
        index=group.RANK_METRICS.index(experiment["metric"]),
        key=f"experiment_metric_{experiment['id']}",
    )
    _, rows = ranking.ranked(experiment["id"], metric)
    done = sum(1 for run in members if run["status"] not in ("queued", "running", "cancelling"))
    st.caption(
        f"{len(members)} runs varying {', '.join(varied)} · {done} ended · "
        f"{'running: the table fills in as each run ends and is evaluated' if polling else 'finished'}"
    )
    st.dataframe(_table(rows, varied), hide_index=True, key=f"experiment_table_{experiment['id']}")
    _next_steps(rows, metric)
    # Redrawing every run's curves at each poll costs the server CPU that a run on the same CPU needs.
    if not polling or st.toggle("Draw the curves while it runs", key=f"experiment_live_charts_{experiment['id']}"):
        _charts(experiment, rows, varied, metric)
    _manage(experiment, members)


def _table(rows: list[dict], varied: list[str]) -> pd.DataFrame:
    shown = []
    for row in rows:
        record = {"": "★ best" if row["best"] else (str(row["rank"]) if row["rank"] else "—"), "run": row["run"]}
        record.update({key: row.get(key) for key in varied})
        record["status"] = row["status"]
        record.update({LABELS[key]: row.get(key) for key in LABELS})
        shown.append(record)
    frame = pd.DataFrame(shown)
    for column in ("time (s)", "tokens/s"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").round(0)
    return frame


def _next_steps(rows: list[dict], metric: str) -> None:
    ranked = [row for row in rows if row["rank"]]
    if not ranked:
        st.caption(f"No run has a score by {metric.replace('_', ' ')} yet: the best is marked once one is scored.")
        return
    best = ranked[0]
    left, right = st.columns(2)
    with left:
        page_link("pages/publish.py", f"Publish the best: {best['run']}", run=str(best["run_id"]))
    if len(ranked) > 1:
        with right:
            page_link(
                "pages/compare.py",
                f"Compare the best two: {best['run']} against {ranked[1]['run']}",
                run=str(best["run_id"]),
                against=str(ranked[1]["run_id"]),
            )


def _charts(experiment: dict, rows: list[dict], varied: list[str], metric: str) -> None:
    scored = pd.DataFrame([row for row in rows if row.get(metric) is not None])
    with st.expander("Curves and the metric against each setting", expanded=not scored.empty):
        colour = st.selectbox("Colour the curves by", [*varied, "run"], key=f"experiment_colour_{experiment['id']}")
        left, right = st.columns(2)
        curves = overlay_chart([row["run_id"] for row in rows], "loss")
        if curves is not None:
            labels = {row["run"]: str(row.get(colour, row["run"])) for row in rows}
            left.altair_chart(_recolour(curves, labels, colour), width="stretch")
        if scored.empty:
            right.caption("The metric against each setting appears once runs are scored.")
            return
        for key in varied:
            right.altair_chart(_against(scored, key, metric), width="stretch")


def _recolour(chart: alt.Chart, labels: dict[str, str], colour: str) -> alt.Chart:
    frame = chart.data.copy()
    frame[colour] = frame["run"].map(labels)
    return chart.properties(data=frame).encode(color=alt.Color(f"{colour}:N", title=colour), detail="run:N")


def _against(frame: pd.DataFrame, key: str, metric: str) -> alt.Chart:
    numeric = pd.api.types.is_numeric_dtype(frame[key])
    scale = alt.Scale(type="log") if key == "learning_rate" else alt.Scale(zero=False)
    if numeric and key != "learning_rate" and (frame[key].dropna() % 1 == 0).all():
        # seeds, ranks, epochs: the values swept, not fractional ticks between them; upright (turned, 8 read ∞)
        x = alt.X(f"{key}:O", axis=alt.Axis(labelAngle=0))
    else:
        x = alt.X(f"{key}:Q", scale=scale) if numeric else alt.X(f"{key}:N")
    return (
        alt.Chart(frame, title=f"{metric.replace('_', ' ')} against {key}")
        .mark_circle(size=90)
        .encode(
            x=x,
            y=alt.Y(f"{metric}:Q", title=metric, scale=alt.Scale(zero=False), axis=alt.Axis(labelExpr=TICK_LABEL)),
            tooltip=["run", key, metric],
        )
        .properties(height=220)
    )


def _manage(experiment: dict, members: list[dict]) -> None:
    with st.expander("Cancel, resume or extend"):
        left, middle = st.columns(2)
        if left.button("Cancel the runs still to go", key=f"experiment_cancel_{experiment['id']}"):
            lines = group.cancel_experiment(experiment["id"])
            st.info("\n".join(lines) if lines else "Nothing to cancel.")
        if middle.button("Resume the runs that did not finish", key=f"experiment_resume_{experiment['id']}"):
            try:
                st.info("\n".join(group.resume_experiment(experiment["id"])))
            except WorkbenchError as exc:
                st.info(str(exc))
            runs.schedule()
        varied = group.spec_of(experiment).varied
        key = st.selectbox("Add values of", varied, key=f"experiment_extend_key_{experiment['id']}")
        values = st.text_input("Values", key=f"experiment_extend_values_{experiment['id']}", placeholder="a, b")
        if st.button("Add these runs", key=f"experiment_extend_{experiment['id']}", disabled=not values.strip()):
            try:
                created = group.extend_experiment(
                    experiment["id"], SweepSpec.parse([f"{key}={values.replace(' ', '')}"])
                )
            except (SweepError, WorkbenchError) as exc:
                st.error(str(exc))
            else:
                st.success(f"{len(created)} runs added to the queue.")
                st.rerun()
