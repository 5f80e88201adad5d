"""Per-field counts, confusion matrices and label balance of JSON answers."""

import json

from workbench.evaluation import fields

REFERENCES = [
    json.dumps({"priority": "alta", "refund": True, "customer": {"name": "Ana", "id": 1}}),
    json.dumps({"priority": "baja", "refund": False, "customer": {"name": "Luis", "id": 2}}),
    json.dumps({"priority": "alta", "refund": False, "customer": {"name": "Eva", "id": 3}}),
    json.dumps({"priority": "media", "refund": True, "customer": {"name": "Rosa", "id": 4}}),
]
ANSWERS = [
    json.dumps({"priority": "Alta", "refund": True, "customer": {"name": "Ana", "id": 1}}),  # right ("Alta" ~ "alta")
    json.dumps(
        {"priority": "alta", "refund": False, "customer": {"name": "Luis"}, "note": "x"}
    ),  # wrong, missing, extra
    "Sure! The priority is high.",  # not JSON: every field missing
    json.dumps({"priority": "alta", "refund": "yes", "customer": {"name": "Rosa", "id": 4.0}}),  # wrong type; 4.0 == 4
]


def test_each_field_counts_right_wrong_missing_and_extra_nested_paths_included():
    table = {row.field: row for row in fields.field_table(REFERENCES, ANSWERS)}
    assert list(table) == ["priority", "refund", "customer.name", "customer.id", "note"]
    priority = table["priority"]
    assert (priority.present, priority.right, priority.wrong, priority.missing, priority.extra) == (4, 1, 2, 1, 0)
    assert priority.accuracy == 0.25
    refund = table["refund"]
    assert (refund.right, refund.wrong, refund.missing) == (2, 1, 1)
    customer_id = table["customer.id"]
    assert (customer_id.right, customer_id.wrong, customer_id.missing) == (2, 0, 2)
    note = table["note"]
    assert (note.present, note.extra, note.accuracy) == (0, 1, None)


def test_few_valued_fields_get_a_confusion_matrix_with_the_rows_behind_each_cell():
    assert fields.categorical_fields(REFERENCES) == ["priority", "refund"]  # names and ids differ on every row
    matrix = fields.confusion("priority", REFERENCES, ANSWERS, [10, 11, 12, 13])
    assert matrix.references == ["alta", "baja", "media"]
    assert matrix.answers == ["alta", "baja", "media", fields.NOT_JSON]
    assert matrix.cells == {
        ("alta", "alta"): [10],
        ("baja", "alta"): [11],
        ("alta", fields.NOT_JSON): [12],
        ("media", "alta"): [13],
    }
    refund = fields.confusion("refund", REFERENCES, ANSWERS, [0, 1, 2, 3])
    assert refund.count("true", "true") == 1 and refund.count("true", '"yes"') == 0 and refund.count("true", "yes") == 1
    assert refund.count("false", fields.NOT_JSON) == 1


def test_a_missing_field_is_its_own_column():
    matrix = fields.confusion("refund", [json.dumps({"refund": True})], [json.dumps({"other": 1})], [0])
    assert matrix.cells == {("true", fields.MISSING): [0]}


def test_label_balance_counts_each_value_per_split_most_common_first():
    balance = fields.label_balance({"train": REFERENCES[:3], "validation": REFERENCES[3:]})
    assert list(balance) == ["priority", "refund"]
    assert balance["priority"] == {
        "alta": {"train": 2, "validation": 0},
        "baja": {"train": 1, "validation": 0},
        "media": {"train": 0, "validation": 1},
    }
    assert balance["refund"]["true"] == {"train": 1, "validation": 1}
    assert fields.label_balance({"train": ["plain text", "more text"]}) == {}


def test_a_json_task_is_one_whose_every_reference_is_an_object_or_array():
    assert fields.is_json_task(REFERENCES)
    assert not fields.is_json_task(REFERENCES + ["plain text"])
    assert not fields.is_json_task(["3", "true"]) and not fields.is_json_task([])


def test_text_answers_rank_from_the_worst_score_with_their_lengths():
    rows = [
        {
            "row_index": 0,
            "reference": "abc",
            "adapter_output": "abc",
            "adapter_scores": {"rouge_l": 1.0, "exact_match": 1.0},
        },
        {
            "row_index": 1,
            "reference": "abcdef",
            "adapter_output": "x",
            "adapter_scores": {"rouge_l": 0.1, "exact_match": 0.0},
        },
    ]
    ranked = fields.worst_text_rows(rows, "adapter")
    assert [r["row"] for r in ranked] == [2, 1]
    assert ranked[0] == {"row": 2, "rouge_l": 0.1, "exact": False, "answer_chars": 1, "reference_chars": 6}


def test_rare_values_are_named_with_their_count():
    balance = {"priority": {"alta": {"train": 120}, "media": {"train": 77}, "baja": {"train": 3}}}
    assert fields.rare_values(balance) == ["priority = 'baja' appears in 3 of 200 rows"]


def test_a_saved_revisions_balance_follows_its_split(workbench_home):
    from workbench.data import repository
    from workbench.data.split import SplitSpec

    rows = [{"instruction": f"ticket {i}", "input": "", "output": REFERENCES[i % 4]} for i in range(8)]
    repository.create_dataset("tickets", "alpaca", rows)
    assert fields.revision_label_balance("tickets", 1)["priority"]["alta"] == {"all rows": 4}
    repository.make_split("tickets", 1, SplitSpec(seed=1, validation_count=2))
    split = repository.get_revision("tickets", 1).split
    balance = fields.revision_label_balance("tickets", 1)
    assert sum(balance["priority"]["alta"].values()) == 4
    assert balance["priority"]["alta"]["validation"] == sum(1 for i in split.validation if i % 4 in (0, 2))


def test_an_empty_object_answer_has_every_field_missing_and_no_field_of_its_own():
    table = fields.field_table(['{"a": 1}'], ["{}"])
    assert [(c.field, c.missing, c.extra) for c in table] == [("a", 1, 0)]
