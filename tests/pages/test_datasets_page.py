import json

from workbench.data import repository
from workbench.data.split import SplitSpec

PAGE = "pages/datasets.py"
NEW, IMPORT = "New dataset…", "Import a file…"


def _goto(at, choice):
    at.selectbox(key="ds_selected").set_value(choice).run()
    assert not at.exception, at.exception
    return at


def test_opens_on_the_sample_dataset_with_its_rows(page):
    at = page(PAGE)
    assert not at.exception
    assert at.selectbox(key="ds_selected").value == "informes-proyectos"
    table = at.data_editor[0].value
    assert len(table) == 50  # one page, never every row
    assert list(table.columns[:3]) == ["#", "select", "instruction"]
    assert any("Valid:" in s.value for s in at.success)


def test_create_a_dataset_add_a_row_and_save(page, caplog):
    at = _goto(page(PAGE), NEW)
    at.text_input(key="ds_new_name").input("faq")
    next(b for b in at.button if b.label == "Create dataset").click().run()  # the form's submit
    assert at.selectbox(key="ds_selected").value == "faq"
    assert any(i.value.startswith("No rows yet: add one") for i in at.info) and not at.success  # not "Valid: 0 rows"
    at.button(key="ds_add_row").click().run()
    assert at.button_group(key="ds_view").value == "Form"
    said = " ".join([r.getMessage() for r in caplog.records] + [w.value for w in at.warning])
    assert "created with a default value but also had its value set" not in said
    assert not at.error and "Row 1 is new and blank" in at.info[0].value  # not one red error per empty field
    at.text_area[0].input("What are your hours?")
    next(b for b in at.button if b.label == "Apply changes").click().run()
    assert [e.value for e in at.error] == ["faq.jsonl:1: output: empty"]  # once a field is filled, the rest is due
    at.text_area[0].input("What are your hours?")
    at.text_area[2].input("9 to 5, Monday to Friday.")
    next(b for b in at.button if b.label == "Apply changes").click().run()
    assert not at.exception
    at.text_input(key="ds_note_faq").set_value("opening hours")
    at.button(key="ds_save").click().run()
    assert at.text_input(key="ds_note_faq").value == ""  # the note went with that save
    assert repository.get_dataset("faq").latest.note == "opening hours"
    assert repository.load_rows("faq") == [
        {"instruction": "What are your hours?", "input": "", "output": "9 to 5, Monday to Friday."}
    ]
    assert repository.get_dataset("faq").latest.n == 2


def test_table_edits_reach_the_draft_and_the_saved_revision(page):
    repository.create_dataset("faq", "alpaca", [{"instruction": "a", "input": "", "output": "b"}])
    at = page(PAGE)
    at = _goto(at, "faq")
    at.session_state["ds_table_faq_0_0"] = {
        "edited_rows": {0: {"output": "changed"}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    assert not at.exception
    at.button(key="ds_save").click().run()
    assert repository.load_rows("faq")[0]["output"] == "changed"


def test_validation_shows_file_line_field_problem(page):
    repository.create_dataset(
        "faq",
        "alpaca",
        [{"instruction": "a", "input": "", "output": "b"}, {"instruction": "c", "input": "", "output": ""}],
    )
    at = _goto(page(PAGE), "faq")
    problems = "\n".join(c.value for c in at.code)
    assert "faq.jsonl:2: output: empty" in problems


def test_import_with_errors_changes_nothing_until_the_user_skips_them(page):
    good = json.dumps({"instruction": "q1", "output": "a1"})
    data = f"{good}\n{{bad json\n" + json.dumps({"instruction": "q2", "output": "a2"}) + "\n"
    at = _goto(page(PAGE), IMPORT)
    at.file_uploader(key="imp_upload").upload("mine.jsonl", data.encode(), "application/jsonl").run()
    assert not at.exception
    assert "mine.jsonl:2: json:" in "\n".join(c.value for c in at.code)
    assert not [b for b in at.button if b.key == "imp_go"]  # no import offered while bad rows are unresolved
    assert "mine" not in repository.dataset_names()
    at.radio(key="imp_bad_choice").set_value("Skip them").run()
    at.button(key="imp_go").click().run()
    assert not at.exception
    assert repository.load_rows("mine") == [
        {"instruction": "q1", "input": "", "output": "a1"},
        {"instruction": "q2", "input": "", "output": "a2"},
    ]
    assert at.selectbox(key="ds_selected").value == "mine"


def test_import_proposes_a_held_out_split_the_user_can_change(page):
    data = "".join(json.dumps({"instruction": f"q{i}", "output": f"a{i}"}) + "\n" for i in range(60))
    at = _goto(page(PAGE), IMPORT)
    at.file_uploader(key="imp_upload").upload("sixty.jsonl", data.encode(), "application/jsonl").run()
    assert at.checkbox(key="imp_holdout_on").value is True
    assert at.number_input(key="imp_holdout").value == 6  # a tenth
    assert any("6 of 60 rows held out (seed 42), 54 train." in c.value for c in at.caption)
    at.number_input(key="imp_holdout").set_value(8).run()
    at.button(key="imp_go").click().run()
    assert not at.exception
    split = repository.get_revision("sixty", 1).split
    assert len(split.validation) == 8 and len(split.train) == 52 and split.spec.seed == 42

    at = _goto(page(PAGE), IMPORT)
    at.file_uploader(key="imp_upload").upload("all-train.jsonl", data.encode(), "application/jsonl").run()
    at.checkbox(key="imp_holdout_on").uncheck().run()
    assert any("Every row trains" in c.value for c in at.caption)
    at.button(key="imp_go").click().run()
    assert repository.get_revision("all-train", 1).split is None


def test_importing_under_an_existing_name_waits_for_replace_or_append_and_says_which(page):
    held = [{"instruction": f"q{i}", "input": "", "output": f"a{i}"} for i in range(3)]
    repository.create_dataset("faq", "alpaca", held)
    data = "".join(json.dumps({"instruction": f"n{i}", "output": f"b{i}"}) + "\n" for i in range(2))
    at = _goto(page(PAGE), IMPORT)
    at.file_uploader(key="imp_upload").upload("faq.jsonl", data.encode(), "application/jsonl").run()
    assert not at.exception
    assert at.radio(key="imp_mode").label == "A dataset named 'faq' exists (3 rows)"
    assert at.radio(key="imp_mode").value is None  # no default: one click never replaces its rows
    assert at.button(key="imp_go").disabled and at.button(key="imp_go").label == "Import 2 rows"
    assert any("replace its rows or join them" in c.value for c in at.caption)

    at.radio(key="imp_mode").set_value("Append to its rows").run()
    assert at.button(key="imp_go").label == "Append 2 rows to 'faq'" and not at.button(key="imp_go").disabled
    at.radio(key="imp_mode").set_value("Replace its rows").run()
    assert at.button(key="imp_go").label == "Replace the rows of 'faq' with 2 rows"
    at.button(key="imp_go").click().run()
    assert not at.exception
    assert [r["instruction"] for r in repository.load_rows("faq")] == ["n0", "n1"]
    assert repository.get_dataset("faq").latest.n == 2  # the 3 rows stay in revision 1

    at = _goto(page(PAGE), IMPORT)
    at.file_uploader(key="imp_upload").upload("faq.jsonl", data.encode(), "application/jsonl").run()
    at.radio(key="imp_mode").set_value("Append to its rows").run()
    at.button(key="imp_go").click().run()
    assert [r["instruction"] for r in repository.load_rows("faq")] == ["n0", "n1", "n0", "n1"]


def test_import_lets_the_user_fix_a_bad_line_in_place(page):
    data = json.dumps({"instruction": "q1", "output": "a1"}) + '\n{"instruction": "q2", "output": }\n'
    at = _goto(page(PAGE), IMPORT)
    at.file_uploader(key="imp_upload").upload("fixme.jsonl", data.encode(), "application/jsonl").run()
    fix = next(t for t in at.text_area if t.label == "Line 2")
    fix.input('{"instruction": "q2", "output": "a2"}')
    next(b for b in at.button if b.label == "Re-check fixed rows").click().run()
    assert not at.exception
    at.button(key="imp_go").click().run()
    assert [r["output"] for r in repository.load_rows("fixme")] == ["a1", "a2"]


def test_csv_import_goes_through_the_column_mapping(page):
    data = 'question,answer,notes\nWhat is 2+2?,4,easy\n"Multi\nline?",yes,x\n'
    at = _goto(page(PAGE), IMPORT)
    at.file_uploader(key="imp_upload").upload("qa.csv", data.encode(), "text/csv").run()
    assert at.selectbox(key="imp_map_instruction").value == "question"
    assert at.selectbox(key="imp_map_output").value == "answer"
    at.selectbox(key="imp_map_input").set_value("notes").run()
    at.button(key="imp_go").click().run()
    assert not at.exception
    assert repository.load_rows("qa") == [
        {"instruction": "What is 2+2?", "input": "easy", "output": "4"},
        {"instruction": "Multi\nline?", "input": "x", "output": "yes"},
    ]


def test_save_after_another_tab_saved_is_refused_and_offers_a_copy(page):
    repository.create_dataset("faq", "alpaca", [{"instruction": "a", "input": "", "output": "b"}])
    at = _goto(page(PAGE), "faq")
    at.button(key="ds_add_row").click().run()  # the editor now holds unsaved rows from revision 1
    repository.save_rows("faq", [{"instruction": "other tab", "input": "", "output": "x"}], base_revision=1)
    at.button(key="ds_save").click().run()
    assert not at.exception
    assert any("saved elsewhere (revision 2)" in e.value for e in at.error)
    assert repository.load_rows("faq") == [{"instruction": "other tab", "input": "", "output": "x"}]
    at.button(key="ds_conflict_save_as").click().run()
    assert len(repository.load_rows("faq-copy")) == 2


def test_split_section_stores_a_seeded_split(page):
    repository.create_dataset(
        "faq", "alpaca", [{"instruction": f"q{i}", "input": "", "output": f"a{i}"} for i in range(20)]
    )
    at = _goto(page(PAGE), "faq")
    at.button_group(key="ds_section").set_value("Split").run()
    assert not [n for n in at.number_input if n.key == "ds_split_count"]  # only the chosen way's input
    at.number_input(key="ds_split_ratio").set_value(0.25)
    next(b for b in at.button if b.label == "Split revision 1").click().run()
    assert not at.exception
    split = repository.get_revision("faq", 1).split
    assert len(split.validation) == 5 and split.spec.seed == 42
    assert [m.value for m in at.metric][:2] == ["15", "5"]
    assert any(
        c.value == "Revision 1 is split into 15 training and 5 validation rows (validation ratio 0.25, seed 42)."
        for c in at.caption
    )
    at.radio(key="ds_split_method").set_value("Count").run()
    assert not [n for n in at.number_input if n.key == "ds_split_ratio"]
    at.number_input(key="ds_split_count").set_value(4)
    next(b for b in at.button if b.label == "Split revision 1").click().run()
    assert len(repository.get_revision("faq", 1).split.validation) == 4


def test_statistics_section_counts_tokens_and_draws_the_histogram(page):
    rows = [{"instruction": f"q{i}", "input": "", "output": json.dumps({"n": i})} for i in range(10)]
    repository.create_dataset("faq", "alpaca", rows)
    at = _goto(page(PAGE), "faq")
    at.button_group(key="ds_section").set_value("Statistics").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows"] == "10"
    assert int(metrics["Tokens"].replace(",", "")) > 10 * 5
    assert metrics["JSON outputs"] == "100%"
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")


def test_the_json_figure_counts_every_output_and_is_hidden_for_text_datasets(page):
    rows = [{"instruction": f"q{i}", "input": "", "output": f"plain answer {i}"} for i in range(9)]
    repository.create_dataset("text", "alpaca", [*rows, {"instruction": "q", "input": "", "output": '{"a": 1}'}])
    repository.create_dataset("prose", "alpaca", rows)
    at = _goto(page(PAGE), "text")
    at.button_group(key="ds_section").set_value("Statistics").run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["JSON outputs"] == "10%"  # 1 of all 10 outputs, not 1 of the 1 that looks like JSON
    at = _goto(page(PAGE), "prose")
    at.button_group(key="ds_section").set_value("Statistics").run()
    assert "JSON outputs" not in {m.label for m in at.metric}


def test_history_restores_an_old_revision(page):
    repository.create_dataset("faq", "alpaca", [{"instruction": "a", "input": "", "output": "b"}])
    repository.save_rows("faq", [], base_revision=1)
    at = _goto(page(PAGE), "faq")
    at.button_group(key="ds_section").set_value("History").run()
    assert "0 added, 1 removed, 0 changed" in " ".join(c.value for c in at.caption)
    at.checkbox(key="ds_restore_confirm_2").check().run()
    at.button(key="ds_restore_go").click().run()
    assert not at.exception
    assert repository.get_dataset("faq").latest.n == 3
    assert repository.load_rows("faq") == [{"instruction": "a", "input": "", "output": "b"}]


def test_saving_keeps_held_out_rows_the_way_the_saved_revision_had_them(page):
    rows = [{"instruction": f"q{i}", "input": "", "output": f"a{i}"} for i in range(20)]
    repository.create_dataset("faq", "alpaca", rows)
    repository.make_split("faq", 1, SplitSpec(seed=7, validation_ratio=0.25))
    at = _goto(page(PAGE), "faq")
    at.button(key="ds_add_row").click().run()
    box = at.checkbox(key="ds_save_holdout_faq")
    assert (
        box.value is True
        and box.label == "Hold out 5 of 21 rows for validation (as the saved revision was split, seed 7)"
    )
    at.button(key="ds_save").click().run()
    split = repository.get_revision("faq", 2).split
    assert split is not None and split.spec.seed == 7 and len(split.validation) == 5


def test_a_new_dataset_is_offered_a_held_out_split_when_saved_and_may_decline(page):
    repository.create_dataset(
        "fresh", "alpaca", [{"instruction": f"q{i}", "input": "", "output": "a"} for i in range(11)]
    )
    at = _goto(page(PAGE), "fresh")
    at.button(key="ds_add_row").click().run()
    assert at.checkbox(key="ds_save_holdout_fresh").label.startswith("Hold out 2 of 12 rows for validation (proposed")
    assert any("Each held-out row is 50% of the held-out score" in c.value for c in at.caption)
    at.checkbox(key="ds_save_holdout_fresh").uncheck().run()
    at.button(key="ds_save").click().run()
    assert repository.get_revision("fresh", 2).split is None


def test_statistics_show_the_label_balance_over_train_and_validation_and_name_rare_values(page):
    priorities = ["alta"] * 24 + ["media"] * 15 + ["baja"]
    rows = [
        {
            "instruction": f"ticket {i}",
            "input": "",
            "output": json.dumps({"priority": p, "refund": i % 2 == 0, "id": i}),
        }
        for i, p in enumerate(priorities)
    ]
    repository.create_dataset("tickets", "alpaca", rows)
    repository.make_split("tickets", 1, SplitSpec(seed=3, validation_ratio=None, validation_count=10))
    at = _goto(page(PAGE), "tickets")
    at.button_group(key="ds_section").set_value("Statistics").run()
    assert not at.exception, at.exception
    assert "Label balance" in [h.value for h in at.subheader]
    tables = {
        c.value: t.value
        for c, t in zip(
            [c for c in at.caption if c.value in ("priority", "refund")],
            [t for t in at.dataframe if "value" in t.value.columns],
            strict=True,
        )
    }
    priority = tables["priority"].set_index("value")
    assert list(priority.index) == ["alta", "media", "baja"]
    assert list(priority.columns) == ["train", "validation"]
    assert priority.sum(axis=1).tolist() == [24, 15, 1] and priority.sum().tolist() == [30, 10]
    assert "id" not in tables  # a different value on every row is not a label
    assert any("priority = 'baja' appears in 1 of 40 rows" in w.value for w in at.warning)


def test_a_text_dataset_has_no_label_balance(page):
    repository.create_dataset(
        "prose", "alpaca", [{"instruction": f"q{i}", "input": "", "output": "same"} for i in range(4)]
    )
    at = _goto(page(PAGE), "prose")
    at.button_group(key="ds_section").set_value("Statistics").run()
    assert not at.exception and at.metric  # the statistics rendered
    assert "Label balance" not in [h.value for h in at.subheader]


def test_the_chosen_dataset_is_in_the_url_and_a_link_opens_it(page):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    repository.create_dataset("faq", "alpaca", [{"instruction": "a", "input": "", "output": "b"}])
    at = _goto(page(PAGE), "faq")
    assert at.query_params["dataset"] == "faq"
    _goto(at, NEW)
    assert "dataset" not in at.query_params  # "New dataset…" is not a dataset to link to

    reloaded = AppTest.from_file(str(Path(__file__).resolve().parents[2] / PAGE), default_timeout=60)
    reloaded.query_params["dataset"] = "faq"
    reloaded.run()
    assert not reloaded.exception and reloaded.selectbox(key="ds_selected").value == "faq"
    _goto(reloaded, "informes-proyectos")
    assert reloaded.selectbox(key="ds_selected").value == "informes-proyectos"  # the link does not pin it


def test_new_and_import_are_buttons_beside_the_dataset_choice(page):
    at = page(PAGE)
    assert at.button(key="ds_action_New dataset").label == "New dataset"
    at.button(key="ds_action_Import a file").click().run()
    assert not at.exception and at.selectbox(key="ds_selected").value == IMPORT
    assert at.button(key="ds_action_Import a file").disabled
    at.button(key="ds_action_New dataset").click().run()
    assert at.selectbox(key="ds_selected").value == NEW and at.text_input(key="ds_new_name")


def _with_a_row_too_long(name: str) -> list[dict]:
    rows = [{"instruction": f"q{i}", "input": "", "output": "a"} for i in range(3)]
    rows.append({"instruction": "palabra " * 1100, "input": "", "output": "a"})  # over 1024 demo tokens
    repository.create_dataset(name, "alpaca", rows)
    return rows


def test_rows_over_max_length_are_said_where_the_user_saves_and_listed_in_the_statistics(page):
    _with_a_row_too_long("long")
    at = _goto(page(PAGE), "long")
    said = [w.value for w in at.warning if "max_length" in w.value]
    assert len(said) == 1, [w.value for w in at.warning]
    assert said[0].startswith("1 of 4 rows is longer than max_length 1024: 1 dropped (the prompt alone fills it)")
    assert "Counted with demo's tokenizer" in said[0]
    at.button_group(key="ds_section").set_value("Statistics").run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Over 1024 tokens"] == "1"
    [said] = [w.value for w in at.warning if "max_length" in w.value]
    # 4,4xx tokens, more than the demo model reads: a larger max_length is no fix, and the advice says so
    assert "more than the model reads (2,048): shorten or remove such rows" in said and "raise" not in said
    expander = next(e for e in at.expander if e.label == "The rows longer than max_length")
    assert "long.jsonl:4:" in expander.code[0].value and expander.code[0].value.endswith("dropped")
    at.number_input(key="ds_stats_max_len").set_value(8192).run()  # the limit chosen there is the one said
    assert not [w for w in at.warning if "max_length" in w.value]


PAIRS = [
    {"prompt": [{"role": "user", "content": f"¿Pedido {i}?"}], "chosen": f"Enviado {i}.", "rejected": "No sé."}
    for i in range(3)
]


def test_a_preference_file_imports_as_pairs_and_the_form_shows_both_answers_and_swaps_them(page):
    data = "\n".join(
        json.dumps(
            {
                "conversations": [{"from": "human", "value": r["prompt"][0]["content"]}],
                "chosen": {"from": "gpt", "value": r["chosen"]},
                "rejected": {"from": "gpt", "value": r["rejected"]},
            },
            ensure_ascii=False,
        )
        for r in PAIRS
    )
    at = _goto(page(PAGE), IMPORT)
    at.file_uploader(key="imp_upload").upload("pares.jsonl", data.encode(), "application/jsonl").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    next(b for b in at.button if b.key == "imp_go").click().run()
    assert not at.exception
    assert repository.get_dataset("pares").format == "preference"
    assert repository.load_rows("pares") == PAIRS
    table = at.data_editor[0].value
    assert list(table.columns) == ["#", "select", "prompt", "chosen", "rejected"]
    assert list(table["chosen"]) == ["Enviado 0.", "Enviado 1.", "Enviado 2."]
    at.button_group(key="ds_view").set_value("Form").run()
    areas = {a.label: a.value for a in at.text_area}
    assert areas["Chosen (the better answer)"] == "Enviado 0." and areas["Rejected (the worse answer)"] == "No sé."
    next(b for b in at.button if b.label == "Swap chosen and rejected").click().run()
    areas = {a.label: a.value for a in at.text_area}
    assert areas["Chosen (the better answer)"] == "No sé." and areas["Rejected (the worse answer)"] == "Enviado 0."
    at.button(key="ds_save").click().run()
    assert repository.load_rows("pares")[0] == {**PAIRS[0], "chosen": "No sé.", "rejected": "Enviado 0."}


def test_a_new_dataset_can_hold_pairs_or_feedback_and_a_blank_pair_says_what_to_fill(page):
    at = _goto(page(PAGE), NEW)
    assert set(at.radio(key="ds_new_format").options) >= {
        "Preference pairs (a prompt, the chosen and the rejected answer)",
        "Feedback (a prompt, an answer, good or bad)",
    }
    at.text_input(key="ds_new_name").input("mis-pares")
    at.radio(key="ds_new_format").set_value("preference")
    next(b for b in at.button if b.label == "Create dataset").click().run()
    assert repository.get_dataset("mis-pares").format == "preference"
    at.button(key="ds_add_row").click().run()
    assert not at.exception
    assert "Row 1 is new and blank: write the prompt and both answers" in at.info[0].value


def test_statistics_open_again_in_a_second_session(page):
    """Counting draws a progress bar; a second session once met st.cache_data replaying it (a crash)."""
    for _ in range(2):
        at = page(PAGE)
        at.button_group(key="ds_section").set_value("Statistics").run()
        assert not at.exception, at.exception
        assert {m.label for m in at.metric} >= {"Rows", "Tokens"}


def test_statistics_of_pairs_show_prompt_and_answer_lengths(page):
    repository.create_dataset("pares", "preference", PAIRS)
    at = _goto(page(PAGE), "pares")
    at.button_group(key="ds_section").set_value("Statistics").run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert {"Mean prompt tokens", "Mean chosen tokens", "Mean rejected tokens"} <= set(metrics)
    assert metrics["Sides differing only in whitespace"] == "0" and metrics["Rows"] == "3"


def test_the_split_form_starts_from_the_revisions_own_split(page):
    from workbench.data.split import SplitSpec

    rows = [{"instruction": f"q{i}", "input": "", "output": f"a{i}"} for i in range(10)]
    repository.create_dataset("faq", "alpaca", rows)
    repository.make_split("faq", 1, SplitSpec(seed=7, validation_ratio=None, validation_count=2))  # as on save
    at = _goto(page(PAGE), "faq")
    at.button_group(key="ds_section").set_value("Split").run()
    assert not at.exception
    assert any(
        c.value == "Revision 1 is split into 8 training and 2 validation rows (2 rows held out, seed 7)."
        for c in at.caption
    )
    assert at.radio(key="ds_split_method").value == "Count"  # not a ratio of 0.1 that would give 1 row
    assert at.number_input(key="ds_split_count").value == 2 and at.number_input(key="ds_split_seed").value == 7


def test_unsaved_edits_survive_a_reload_and_go_once_saved_or_discarded(page):
    rows = [{"instruction": f"q{i}", "input": "", "output": f"a{i}"} for i in range(3)]
    repository.create_dataset("faq", "alpaca", rows)
    at = _goto(page(PAGE), "faq")
    at.button(key="ds_add_row").click().run()
    at.text_area[0].input("kept?")
    at.text_area[2].input("yes")
    next(b for b in at.button if b.label == "Apply changes").click().run()
    assert not at.exception and any("Unsaved changes" in c.value for c in at.caption)

    again = _goto(page(PAGE), "faq")  # a reload: a new session, nothing in its state
    assert not again.exception
    assert any("Your unsaved changes to faq (kept " in i.value and "are back" in i.value for i in again.info)
    assert not any("+00:00" in i.value for i in again.info)  # a local time to the minute, not an ISO stamp
    assert any("Unsaved changes** since revision 1" in c.value for c in again.caption)
    again.button(key="ds_save").click().run()
    assert [r["instruction"] for r in repository.load_rows("faq")] == ["q0", "q1", "q2", "kept?"]
    third = _goto(page(PAGE), "faq")
    assert not any("are back" in i.value for i in third.info)  # saved: nothing kept any more

    third.button(key="ds_add_row").click().run()
    fourth = _goto(page(PAGE), "faq")
    assert any("are back" in i.value for i in fourth.info)
    fourth.button(key="ds_discard").click().run()
    after = _goto(page(PAGE), "faq")
    assert not any("are back" in i.value for i in after.info) and not any("Unsaved" in c.value for c in after.caption)
    assert repository.get_dataset("faq").latest.rows == 4


def test_a_full_disk_while_keeping_unsaved_edits_is_said_and_the_edits_stay(page, monkeypatch):
    import errno

    from workbench.data import unsaved

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    repository.create_dataset("faq", "alpaca", [{"instruction": "q", "input": "", "output": "a"}])
    monkeypatch.setattr(unsaved, "keep", full)
    at = _goto(page(PAGE), "faq")
    at.button(key="ds_add_row").click().run()
    assert not at.exception
    assert any("could not be kept on disk (No space left on device)" in w.value for w in at.warning)
    assert any("Unsaved changes" in c.value for c in at.caption)  # still in this tab, ready to save


def test_appending_an_import_to_a_split_dataset_keeps_it_split_its_way(page):
    from workbench.data.split import SplitSpec

    held = [{"instruction": f"q{i}", "input": "", "output": f"a{i}"} for i in range(10)]
    repository.create_dataset("qa", "alpaca", held)
    repository.make_split("qa", 1, SplitSpec(seed=7, validation_ratio=None, validation_count=2))
    data = "".join(json.dumps({"instruction": f"n{i}", "output": f"b{i}"}) + "\n" for i in range(3))
    at = _goto(page(PAGE), IMPORT)
    at.file_uploader(key="imp_upload").upload("qa.jsonl", data.encode(), "application/jsonl").run()
    at.radio(key="imp_mode").set_value("Append to its rows").run()
    assert not at.exception
    assert at.checkbox(key="imp_holdout_on").value is True  # 3 new rows alone would propose none
    assert any("2 of 13 rows held out (seed 7, as 'qa' is split), 11 train." in c.value for c in at.caption)
    at.button(key="imp_go").click().run()
    assert not at.exception
    split = repository.get_revision("qa", 2).split
    assert split is not None and len(split.validation) == 2 and split.spec.seed == 7
