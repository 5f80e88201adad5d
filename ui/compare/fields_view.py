"""An evaluation broken down: JSON answers field by field (beside another run), confusion heat maps whose cells
list their rows; plain-text answers from the worst score up."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from ui.compare.rows import row_card
from workbench.data import repository
from workbench.evaluation import fields
from workbench.evaluation import results as eval_results
from workbench.training import runs

NONE = "(no other run)"


def render_breakdown(run: dict, rows: list[dict]) -> None:
    if not rows:
        return
    references = [row["reference"] for row in rows]
    if not fields.is_json_task(references):
        _text_breakdown(rows)
        return
    st.subheader("By field")
    others = _other_evaluated_runs(run)
    against = st.selectbox(
        "Beside another run's latest evaluation",
        [NONE, *others],
        key="cmp_fields_against",
        help="Runs of the same dataset with a finished evaluation; compare them on the same rows to be fair.",
    )
    st.dataframe(_field_frame(run, rows, None if against == NONE else against), hide_index=True, width="stretch")
    st.caption(
        "right: the field has the reference's value (strings compared like normalised match); wrong: another "
        "value; missing: not in the answer, or the answer is not JSON; extra: a field the reference does not have."
    )
    categorical = fields.categorical_fields(references)
    if categorical:
        _confusion(rows, references, categorical)


def _other_evaluated_runs(run: dict) -> list[str]:
    dataset, _ = repository.revision_by_id(run["dataset_revision_id"])
    names = []
    for other in runs.list_runs():
        if other["id"] == run["id"] or repository.revision_by_id(other["dataset_revision_id"])[0] != dataset:
            continue
        if eval_results.results_job(other["id"]) is not None:
            names.append(other["name"])
    return names


def _field_frame(run: dict, rows: list[dict], against: str | None) -> pd.DataFrame:
    tables = fields.side_tables(rows)
    columns = {"base right": tables["base"], f"{run['name']} right": tables["adapter"]}
    if against:
        other = eval_results.results_job(runs.get_run(against)["id"])
        columns[f"{against} right"] = fields.side_tables(eval_results.eval_rows_for(other))["adapter"]
    records = []
    for ours in tables["adapter"]:
        record = {"field": ours.field}
        for name, table in columns.items():
            counts = next((c for c in table if c.field == ours.field), None)
            record[name] = f"{counts.right}/{counts.present}" if counts and counts.present else "—"
        record.update(wrong=ours.wrong, missing=ours.missing, extra=ours.extra)
        records.append(record)
    return pd.DataFrame(records)


def _confusion(rows: list[dict], references: list[str], categorical: list[str]) -> None:
    left, right = st.columns([2, 1])
    path = left.selectbox("Reference against answer, for the field", categorical, key="cmp_fields_field")
    side = right.segmented_control("Answers of", ["adapter", "base"], default="adapter", key="cmp_fields_side")
    side = side or "adapter"
    answers = [row[f"{side}_output"] for row in rows]
    matrix = fields.confusion(path, references, answers, [row["row_index"] for row in rows])
    event = st.altair_chart(
        heat_map(matrix),
        on_select="rerun",
        selection_mode="cell",
        key=f"cmp_fields_map_{path}_{side}",
        height=map_height(matrix),
    )
    clicked = _clicked_cell(event)
    cells = sorted(matrix.cells, key=lambda cell: (cell[0] == cell[1], -len(matrix.cells[cell])))
    picked = st.selectbox(
        "Rows behind a cell (or click one on the map)",
        cells,
        index=cells.index(clicked) if clicked in cells else None,
        format_func=lambda cell: f"{cell[0]} → {cell[1]} ({_rows(len(matrix.cells[cell]))})",
        key=f"cmp_fields_cell_{path}_{side}_{clicked}",
        placeholder="Pick a cell: wrong answers first",
    )
    if picked:
        behind = set(matrix.cells[picked])
        for row in (r for r in rows if r["row_index"] in behind):
            row_card(row)


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def heat_map(matrix: fields.Confusion) -> alt.Chart:
    """Reference values down, answer values across; the count in each cell, darker for more rows."""
    data = pd.DataFrame(
        [
            {"reference": ref, "answer": ans, "rows": matrix.count(ref, ans), "right": ref == ans}
            for ref in matrix.references
            for ans in matrix.answers
        ]
    )
    cell = alt.selection_point(name="cell", fields=["reference", "answer"])
    base = alt.Chart(data).encode(
        x=alt.X("answer:N", sort=matrix.answers, title=f"{matrix.field}: answer"),
        y=alt.Y("reference:N", sort=matrix.references, title="reference"),
    )
    rects = (
        base.mark_rect()
        .encode(
            color=alt.Color("rows:Q", scale=alt.Scale(scheme="blues"), legend=None),
            opacity=alt.condition(cell, alt.value(1.0), alt.value(0.6)),
            tooltip=["reference", "answer", "rows"],
        )
        .add_params(cell)
    )
    labels = base.mark_text(fontSize=13).encode(text=alt.Text("rows:Q"), color=alt.value("black"))
    return (rects + labels).properties(height=map_height(matrix))


def map_height(matrix: fields.Confusion) -> int:
    """Pixels for the heat map: a readable band per reference value (Streamlit squeezes it otherwise)."""
    return max(160, 44 * len(matrix.references))


def _clicked_cell(event) -> tuple[str, str] | None:
    try:
        points = event.selection.cell
    except AttributeError:
        return None
    if not points:
        return None
    return str(points[0].get("reference")), str(points[0].get("answer"))


def _text_breakdown(rows: list[dict]) -> None:
    st.subheader("Rows by score")
    st.caption("The adapter's answers from the worst ROUGE-L up, with their length against the reference's.")
    st.dataframe(
        pd.DataFrame(fields.worst_text_rows(rows, "adapter")),
        hide_index=True,
        width="stretch",
        column_config={"rouge_l": st.column_config.NumberColumn("ROUGE-L", format="%.3f")},
    )
