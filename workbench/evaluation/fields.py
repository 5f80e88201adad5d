"""Where JSON answers go wrong, field by field: per-field counts, confusion of few-valued fields, label balance.

Works on texts only (the reference and one side's answer per row, as stored by an evaluation): nothing here
needs a model. Fields are the leaf paths of the references (`metrics.flatten`: "a.b", "items[0].name").
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from dataclasses import dataclass

from workbench import metrics
from workbench.data import repository
from workbench.data.records import prompt_and_reference

NOT_JSON = "(not JSON)"
MISSING = "(missing)"
MAX_CATEGORIES = 12  # a field with more distinct reference values is not shown as a confusion matrix


@dataclass(frozen=True)
class FieldCounts:
    """How one side's answers treat one field over the scored rows."""

    field: str
    present: int  # rows whose reference has the field
    right: int
    wrong: int  # there with another value
    missing: int  # not there, or the answer is not JSON
    extra: int  # there although the reference has no such field

    @property
    def accuracy(self) -> float | None:
        return self.right / self.present if self.present else None


@dataclass
class Confusion:
    """Reference value against answer value for one field; each cell holds the row indices behind it."""

    field: str
    references: list[str]
    answers: list[str]
    cells: dict[tuple[str, str], list[int]] = dataclasses.field(default_factory=dict)

    def count(self, reference: str, answer: str) -> int:
        return len(self.cells.get((reference, answer), []))


def leaves(text: str) -> dict[str, object] | None:
    """The leaf paths and values of a JSON text (an object, array or scalar); None when it is not JSON."""
    ok, value = metrics.parse_json(text)
    if not ok:
        return None
    return metrics.flatten(value) if value or not isinstance(value, dict | list) else {}  # {} has no fields


def is_json_task(references: list[str]) -> bool:
    """Every reference is a JSON object or array: the per-field views apply."""
    parsed = [metrics.parse_json(ref) for ref in references]
    return bool(parsed) and all(ok and isinstance(value, dict | list) for ok, value in parsed)


def field_table(references: list[str], answers: list[str]) -> list[FieldCounts]:
    """One FieldCounts per field of the references (in order of first appearance), then per field that only
    answers have (extra only)."""
    ref_leaves = [leaves(ref) or {} for ref in references]
    answer_leaves = [leaves(answer) for answer in answers]
    order = list(dict.fromkeys(path for row in ref_leaves for path in row))
    extras = list(dict.fromkeys(p for row in answer_leaves if row for p in row if p not in set(order)))
    table = []
    for path in order + extras:
        counts: Counter[str] = Counter()
        for ref, answer in zip(ref_leaves, answer_leaves, strict=True):
            counts[_outcome(path, ref, answer)] += 1
        table.append(
            FieldCounts(
                field=path,
                present=counts["right"] + counts["wrong"] + counts["missing"],
                right=counts["right"],
                wrong=counts["wrong"],
                missing=counts["missing"],
                extra=counts["extra"],
            )
        )
    return table


def _outcome(path: str, ref: dict, answer: dict | None) -> str:
    if path not in ref:
        return "extra" if answer and path in answer else "absent"
    if answer is None or path not in answer:
        return "missing"
    return "right" if metrics.values_equal(answer[path], ref[path]) else "wrong"


def categorical_fields(references: list[str]) -> list[str]:
    """Fields worth a confusion matrix: booleans, and scalar fields with at most MAX_CATEGORIES distinct
    reference values that repeat (a name or an id, different on every row, is left out)."""
    values: dict[str, list] = {}
    for row in (leaves(ref) or {} for ref in references):
        for path, value in row.items():
            values.setdefault(path, []).append(value)
    chosen = []
    for path, seen in values.items():
        if any(isinstance(v, dict | list) for v in seen):
            continue
        distinct = {label(v) for v in seen}
        if all(isinstance(v, bool) for v in seen) or (len(distinct) <= MAX_CATEGORIES and len(distinct) < len(seen)):
            chosen.append(path)
    return chosen


def confusion(path: str, references: list[str], answers: list[str], row_indices: list[int]) -> Confusion:
    """Reference value against answer value of `path` over the rows whose reference has it."""
    matrix = Confusion(path, [], [])
    for index, ref_text, answer_text in zip(row_indices, references, answers, strict=True):
        ref = leaves(ref_text) or {}
        if path not in ref:
            continue
        answer = leaves(answer_text)
        said = NOT_JSON if answer is None else label(answer[path]) if path in answer else MISSING
        expected = label(ref[path])
        if said != expected and answer is not None and path in answer and metrics.values_equal(answer[path], ref[path]):
            said = expected  # equal after normalising ("Alta" for "alta"): the same cell as the metric counts it
        matrix.cells.setdefault((expected, said), []).append(index)
    matrix.references = sorted({r for r, _ in matrix.cells})
    matrix.answers = matrix.references + sorted({a for _, a in matrix.cells} - set(matrix.references))
    return matrix


def label(value) -> str:
    """A value as the tables show it: strings as they are, everything else as JSON (true, 3, null)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def label_balance(outputs_by_split: dict[str, list[str]]) -> dict[str, dict[str, dict[str, int]]]:
    """For each few-valued field of the outputs: {field: {value: {split: count}}}, values most common first."""
    everything = [text for texts in outputs_by_split.values() for text in texts]
    balance: dict[str, dict[str, dict[str, int]]] = {}
    for path in categorical_fields([t for t in everything if leaves(t) is not None]):
        counts: dict[str, dict[str, int]] = {}
        for split, texts in outputs_by_split.items():
            for row in (leaves(t) for t in texts):
                if row and path in row:
                    per_split = counts.setdefault(label(row[path]), dict.fromkeys(outputs_by_split, 0))
                    per_split[split] += 1
        balance[path] = dict(sorted(counts.items(), key=lambda item: -sum(item[1].values())))
    return balance


def worst_text_rows(rows: list[dict], side: str) -> list[dict]:
    """Plain-text answers ranked from the worst ROUGE-L up, with answer and reference lengths in characters."""
    ranked = [
        {
            "row": row["row_index"] + 1,
            "rouge_l": row[f"{side}_scores"].get("rouge_l"),
            "exact": bool(row[f"{side}_scores"].get("exact_match")),
            "answer_chars": len(row[f"{side}_output"] or ""),
            "reference_chars": len(row["reference"] or ""),
        }
        for row in rows
    ]
    return sorted(ranked, key=lambda r: (r["rouge_l"] if r["rouge_l"] is not None else -1.0, r["row"]))


SIDES = ("base", "adapter")


def side_tables(rows: list[dict]) -> dict[str, list[FieldCounts]]:
    """field_table of each side of an evaluation's stored rows (results.eval_rows_for)."""
    references = [row["reference"] for row in rows]
    return {side: field_table(references, [row[f"{side}_output"] for row in rows]) for side in SIDES}


def side_confusions(rows: list[dict], side: str) -> list[Confusion]:
    """A Confusion per few-valued field, for one side of an evaluation's stored rows."""
    references = [row["reference"] for row in rows]
    answers = [row[f"{side}_output"] for row in rows]
    indices = [row["row_index"] for row in rows]
    return [confusion(path, references, answers, indices) for path in categorical_fields(references)]


def revision_label_balance(name: str, n: int) -> dict[str, dict[str, dict[str, int]]]:
    """label_balance of a saved revision's reference answers, over its training and validation rows (all rows
    as one column when it has no split)."""
    revision = repository.get_revision(name, n)
    fmt = repository.get_dataset(name).format
    rows = repository.read_revision_rows(revision)
    outputs = [prompt_and_reference(row, fmt)[1] for row in rows]
    if revision.split is None:
        return label_balance({"all rows": outputs})
    split = revision.split
    return label_balance(
        {"train": [outputs[i] for i in split.train], "validation": [outputs[i] for i in split.validation]}
    )


def rare_values(balance: dict[str, dict[str, dict[str, int]]], share: float = 0.05) -> list[str]:
    """Sentences for the values that fewer than `share` of a field's rows have: what a user should add rows for."""
    found = []
    for path, values in balance.items():
        total = sum(sum(per_split.values()) for per_split in values.values())
        for value, per_split in values.items():
            count = sum(per_split.values())
            if count < share * total:
                found.append(f"{path} = {value!r} appears in {count} of {total} rows")
    return found
