import json
import time

from tests.evaluations import register_copy

PAGE = "pages/compare.py"


def test_without_adapters_the_page_says_how_to_get_one(page):
    at = page(PAGE)
    assert not at.exception
    assert "No trained adapter yet" in at.info[0].value


def test_one_prompt_streams_an_answer_into_both_columns(page, trained_run):
    at = page(PAGE)
    assert not at.exception
    assert at.selectbox(key="cmp_base").value == "demo"
    assert at.selectbox(key="cmp_left").value == "__base__"
    assert at.selectbox(key="cmp_right").value == "words-demo"
    at.number_input(key="cmp_max_new").set_value(8)
    at.chat_input(key="cmp_prompt").set_value("Repite: uno").run()
    assert not at.exception, at.exception
    history = at.session_state["cmp_history"]
    left, right = history["demo::__base__"], history["demo::words-demo"]
    assert [m["role"] for m in left] == [m["role"] for m in right] == ["user", "assistant"]
    for side in (left, right):
        stats = side[1]["stats"]
        assert stats["tokens"] >= 1 and stats["ttft"] > 0 and stats["tps"] > 0
    answers = [m.markdown[0].value for m in at.chat_message if m.name == "assistant"]
    assert len(answers) == 2
    captions = [c.value for c in at.caption]
    per_side = [c for c in captions if "tokens · done after" in c]
    assert len(per_side) == 2 and not any("tok/s" in c for c in per_side), captions
    shared = [c for c in captions if "one batched generation" in c]
    assert len(shared) == 1 and "tok/s for the two together" in shared[0], captions


def test_clear_empties_both_histories(page, trained_run):
    at = page(PAGE)
    at.number_input(key="cmp_max_new").set_value(4)
    at.chat_input(key="cmp_prompt").set_value("hola").run()
    at.button(key="cmp_clear").click().run()
    assert at.session_state["cmp_history"] == {"demo::__base__": [], "demo::words-demo": []}


def test_evaluation_section_shows_metric_deltas_and_filterable_rows(page, trained_run):
    from workbench.evaluation import jobs as eval_jobs
    from workbench.evaluation import results as eval_results

    job_id = eval_jobs.create_eval(trained_run["id"], split="all", limit=3)
    assert eval_jobs.run_eval(job_id, echo=False) == "completed"
    at = page(PAGE)
    at.button_group(key="cmp_section").set_value("Held-out evaluation").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert {"exact_match", "rouge_l", "loss", "perplexity"} <= set(table["metric"])
    assert list(table.columns[:4]) == ["metric", "base", "adapter", "delta"]
    # one scale in the name where it is not 0-1, and a line saying what each figure is
    assert "bleu (0-100)" in set(table["metric"]) and "bleu" not in set(table["metric"])
    about = dict(zip(table["metric"], table["about"], strict=True))
    assert about["exact_match"].endswith("0-1") and about["bleu (0-100)"].endswith("0-100")
    assert all(about.values())
    assert "3 of 3 rows" in " ".join(c.value for c in at.caption)
    verdicts = [r["details"]["verdict"] for r in eval_results.rows(trained_run["id"])]
    at.button_group(key="cmp_eval_filter").set_value(verdicts[0]).run()
    shown = sum(v == verdicts[0] for v in verdicts)
    assert f"{shown} of 3 rows" in " ".join(c.value for c in at.caption)


def test_evaluate_button_starts_a_background_job(page, trained_run):
    from workbench.evaluation import results as eval_results

    at = page(PAGE)
    at.button_group(key="cmp_section").set_value("Held-out evaluation").run()
    assert at.selectbox(key="cmp_eval_revision").value == 1  # the revision the adapter trained on
    at.number_input(key="cmp_eval_limit").set_value(1)
    next(b for b in at.button if b.label == "Evaluate both").click().run()
    assert not at.exception
    job = eval_results.latest_job(trained_run["id"])
    assert job["limit_n"] == 1 and job["split"] == "validation"
    assert job["revision_id"] == trained_run["dataset_revision_id"]
    deadline = time.monotonic() + 120
    while eval_results.get_job(job["id"])["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, "evaluation did not finish"
        time.sleep(0.5)
    assert eval_results.get_job(job["id"])["status"] == "completed", eval_results.get_job(job["id"])["error"]


def test_checkpoints_of_a_run_can_be_a_side(page, trained_run):
    at = page(PAGE)
    assert "adapter: words-demo@checkpoint-6" in at.selectbox(key="cmp_right").options  # saved at step 6
    at.selectbox(key="cmp_left").set_value("words-demo@checkpoint-6")
    at.number_input(key="cmp_max_new").set_value(4)
    at.chat_input(key="cmp_prompt").set_value("Repite: uno").run()
    assert not at.exception, at.exception
    assert [m["role"] for m in at.session_state["cmp_history"]["demo::words-demo@checkpoint-6"]] == [
        "user",
        "assistant",
    ]


def test_a_running_evaluation_shows_its_side_rows_and_tokens(page, trained_run):
    from workbench.evaluation import jobs as eval_jobs
    from workbench.jobs import registry

    job_id = eval_jobs.create_eval(trained_run["id"], split="all", limit=3)
    registry.mark_running(job_id)  # as its worker would, mid-batch
    registry.set_progress(
        job_id,
        {
            "phase": "generating",
            "done": 0,
            "total": 3,
            "unit": "rows",
            "side": "adapter",
            "rows": "1-3",
            "tokens": 120,
            "side_tokens": 30,
            "eta_seconds": 12,
        },
    )
    at = page("pages/compare.py")
    at.button_group(key="cmp_section").set_value("Held-out evaluation").run()
    assert not at.exception
    texts = [p.proto.text for p in at.get("progress")]
    assert (
        "Evaluation running: 0/3 rows scored, adapter answers for rows 1-3, 150 tokens generated, about 12 s left"
        in texts
    )
    registry.finish(job_id, "cancelled")


def test_a_conversation_belongs_to_its_base(page, trained_run):
    import shutil

    from workbench import paths
    from workbench.training import runs

    # A second base (a copy of the demo model) with an adapter of its own.
    shutil.copytree(paths.model_dir("demo").resolve(), paths.model_dir("demo-copy"))
    adapter = paths.adapters_dir() / "on-copy"
    shutil.copytree(paths.in_home(trained_run["adapter_dir"]), adapter)
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(paths.model_dir("demo-copy"))
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    record = json.loads((adapter / paths.RUN_FILE).read_text())
    record.update(base_model="demo-copy", base_model_path=str(paths.model_dir("demo-copy")))
    (adapter / paths.RUN_FILE).write_text(json.dumps(record))
    source = runs.get_run(trained_run["id"])
    runs.register_finished_run(
        "on-copy", runs.run_config(source).with_updates(base_model="demo-copy"), source["dataset_revision_id"], adapter
    )
    at = page(PAGE)
    at.selectbox(key="cmp_base").set_value("demo").run()
    at.number_input(key="cmp_max_new").set_value(4)
    at.chat_input(key="cmp_prompt").set_value("Repite: uno").run()
    assert [m["role"] for m in at.session_state["cmp_history"]["demo::__base__"]] == ["user", "assistant"]
    at.selectbox(key="cmp_base").set_value("demo-copy").run()
    assert not at.exception, at.exception
    assert not [m for m in at.chat_message]  # the other base's side starts empty, nothing carried over
    assert at.session_state["cmp_history"].get("demo-copy::__base__", []) == []
    at.selectbox(key="cmp_base").set_value("demo").run()
    assert len([m for m in at.chat_message]) >= 2  # and demo's conversation is still there


def test_metrics_neither_side_has_are_left_out_of_the_table(page, trained_run):
    from workbench.evaluation import jobs as eval_jobs
    from workbench.evaluation import results as eval_results

    job_id = eval_jobs.create_eval(trained_run["id"], split="all", limit=2)
    assert eval_jobs.run_eval(job_id, echo=False) == "completed"
    assert any(row["base"] is None and row["adapter"] is None for row in eval_results.results(trained_run["id"]))
    at = page(PAGE)
    at.button_group(key="cmp_section").set_value("Held-out evaluation").run()
    table = at.dataframe[0].value
    assert "exact_match" in list(table["metric"]) and not table[table["base"].isna() & table["adapter"].isna()].shape[0]


TICKETS = [
    ('{"priority": "alta", "refund": true, "id": "A1"}', "no sé", '{"priority": "alta", "refund": true, "id": "A1"}'),
    ('{"priority": "baja", "refund": false, "id": "A2"}', "{}", '{"priority": "alta", "refund": false}'),
    ('{"priority": "alta", "refund": false, "id": "A3"}', "{}", '{"priority": "alta", "refund": false, "id": "A3"}'),
    ('{"priority": "baja", "refund": true, "id": "A4"}', "{}", '{"priority": "baja", "refund": true, "id": "A4"}'),
]


def test_a_json_evaluation_is_broken_down_by_field_with_the_rows_behind_a_confusion_cell(page, trained_run):
    from tests.evaluations import store_evaluation

    store_evaluation(trained_run["id"], TICKETS)
    other = register_copy(trained_run, "words-other")
    store_evaluation(other, [(ref, base, ref) for ref, base, _ in TICKETS])
    at = page(PAGE)
    at.selectbox(key="cmp_right").set_value("words-demo").run()  # the newest adapter is on the right at first
    at.button_group(key="cmp_section").set_value("Held-out evaluation").run()
    assert not at.exception, at.exception
    assert "By field" in [h.value for h in at.subheader]
    by_field = at.dataframe[1].value
    assert list(by_field["field"]) == ["priority", "refund", "id"]
    assert list(by_field.columns) == ["field", "base right", "words-demo right", "wrong", "missing", "extra"]
    assert by_field.set_index("field").loc["priority", "words-demo right"] == "3/4"
    assert by_field.set_index("field").loc["id", "missing"] == 1
    assert at.selectbox(key="cmp_fields_field").options == ["priority", "refund"]  # an id is never a category
    assert len(at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")) == 1  # the heat map

    at.selectbox(key="cmp_fields_against").set_value("words-other").run()
    beside = at.dataframe[1].value
    assert beside.set_index("field").loc["priority", "words-other right"] == "4/4"

    cell = next(s for s in at.selectbox if s.key.startswith("cmp_fields_cell_priority_adapter"))
    assert cell.value is None and cell.options[0] == "baja → alta (1 row)"  # wrong cells first
    cell.set_value(("baja", "alta")).run()
    assert "Row 2 — adapter better" in [e.label for e in at.expander]

    at.button_group(key="cmp_fields_side").set_value("base").run()
    cell = next(s for s in at.selectbox if s.key.startswith("cmp_fields_cell_priority_base"))
    assert cell.options == ["baja → (missing) (2 rows)", "alta → (not JSON) (1 row)", "alta → (missing) (1 row)"]


def test_a_text_evaluation_lists_rows_from_the_worst_score(page, trained_run):
    from tests.evaluations import store_evaluation

    store_evaluation(trained_run["id"], [("uno", "x", "uno"), ("dos", "y", "tres")])
    at = page(PAGE)
    at.button_group(key="cmp_section").set_value("Held-out evaluation").run()
    assert not at.exception, at.exception
    assert "Rows by score" in [h.value for h in at.subheader]
    ranked = at.dataframe[1].value
    assert list(ranked["row"]) == [2, 1] and list(ranked["reference_chars"]) == [3, 3]


def test_a_link_with_a_run_puts_its_adapter_on_the_right_and_the_url_follows_the_sides(page, trained_run):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    other = register_copy(trained_run, "words-copy")
    at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / PAGE), default_timeout=60)
    at.query_params["run"] = str(trained_run["id"])
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="cmp_right").value == "words-demo"
    assert not at.warning  # no "default value and Session State" clash
    at.selectbox(key="cmp_right").set_value("words-copy").run()
    assert at.query_params["run"] == str(other)


WORDS = ("uno", "dos", "tres", "cuatro", "cinco")


def _predict_section(page):
    at = page(PAGE)
    at.button_group(key="cmp_section").set_value("Predict over a file").run()
    assert not at.exception, at.exception
    return at


def test_predict_section_answers_an_uploaded_file_and_offers_both_downloads(page, trained_run):
    from workbench.prediction import job as predictions

    at = _predict_section(page)
    assert at.selectbox(key="cmp_pred_with").value == "words-demo"  # the adapter picked above
    assert "No prediction yet" in " ".join(c.value for c in at.caption)
    data = "\n".join(json.dumps({"instruction": f"Repite: {w}", "output": w}) for w in WORDS)
    at.file_uploader(key="cmp_pred_file").upload("new.jsonl", data.encode(), "application/jsonl").run()
    at.number_input(key="cmp_pred_max_new").set_value(4)
    at.button(key="cmp_pred_go").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    job = predictions.list_predictions()[0]
    assert job["title"] == "Predict words-demo (adapter) over new.jsonl (5 rows)"
    assert predictions.job_config(job).max_new_tokens == 4
    deadline = time.time() + 120
    while predictions.get_job(job["id"])["status"] != "completed":
        assert time.time() < deadline, predictions.get_job(job["id"])
        time.sleep(0.5)
    at.run()
    assert not at.exception
    assert "Prediction completed: 5/5 rows answered" in at.get("progress")[0].proto.text
    tables = [frame.value for frame in at.dataframe]
    answers = next(t for t in tables if "output" in t.columns)
    assert list(answers["input"]) == [f"Repite: {w}" for w in WORDS]
    assert list(answers["reference"]) == list(WORDS)
    scores = next(t for t in tables if "exact match" in t.columns and "output" not in t.columns)
    assert 0.0 <= scores["exact match"][0] <= 1.0
    assert list(answers.columns[:6]) == ["row", "line", "exact match", "tokens", "stopped", "input"]
    assert "greedy, answers of up to 4 tokens, seed 0" in [c.value for c in at.caption]
    assert [b.label for b in at.get("download_button")] == ["Download JSONL", "Download CSV"]


def test_predict_section_asks_for_the_input_column_of_a_csv_and_names_a_bad_row(page, trained_run):
    at = _predict_section(page)
    at.file_uploader(key="cmp_pred_file").upload("t.csv", b"id,text,gold\n7,hola,uno\n8,adios,dos\n", "text/csv").run()
    assert at.selectbox(key="cmp_pred_column").options == ["id", "text", "gold"]
    assert at.selectbox(key="cmp_pred_column").value == "text"  # guessed from its name, not the first column
    assert at.selectbox(key="cmp_pred_reference").value == "gold"
    assert "2 rows read, 2 with an answer to score against. The first input: hola" in " ".join(
        c.value for c in at.caption
    )
    at.selectbox(key="cmp_pred_column").set_value("id").run()
    assert "are bare numbers" in at.warning[0].value
    at.file_uploader(key="cmp_pred_file").upload("bad.jsonl", b'{"instruction": "a"}\n{"instruction": 5}\n', "x").run()
    assert not at.exception
    # said on upload, line by line, and nothing can start
    shown = at.error[0].value.replace("\\", "")  # the text is shown literally: Markdown characters escaped
    assert "bad.jsonl:2: instruction: must be a string, got int  \n" in shown and "nothing was started" in shown
    assert at.button(key="cmp_pred_go").disabled


def test_an_interrupted_prediction_offers_resume_and_keeps_its_answers(page, trained_run):
    from workbench.jobs import registry
    from workbench.prediction import job as predictions

    data = "\n".join(json.dumps({"instruction": w}) for w in WORDS).encode()
    config = predictions.for_run(trained_run["name"], max_new_tokens=2, batch_rows=2)
    job_id = predictions.create_predict(config, data, "w.jsonl")
    registry.mark_running(job_id, pid=2**22 + 7)  # a worker that is gone...
    earlier = [{"row": n, "line": n, "input": w, "output": f"kept {n}"} for n, w in enumerate(WORDS[:2], 1)]
    outputs_file = predictions.outputs_path(job_id)
    outputs_file.write_text("".join(json.dumps(r) + "\n" for r in earlier) + '{"row": 3, "li')  # ...mid-write
    at = _predict_section(page)
    assert not at.exception
    assert "interrupted" in at.get("progress")[0].proto.text
    assert "Resume it to go on from its last answered row" in at.error[0].value
    next(b for b in at.button if b.label == "Resume").click().run()
    deadline = time.time() + 120
    while predictions.get_job(job_id)["status"] != "completed":
        assert time.time() < deadline, predictions.get_job(job_id)
        time.sleep(0.5)
    answered = [json.loads(line) for line in outputs_file.read_text().splitlines()]
    assert answered[:2] == earlier
    assert [r["row"] for r in answered] == [1, 2, 3, 4, 5] and [r["input"] for r in answered] == list(WORDS)


def test_sampled_prediction_takes_the_pages_temperature_top_p_and_seed(page, trained_run):
    from workbench.prediction import job as predictions

    at = _predict_section(page)
    assert at.slider(key="cmp_pred_top_p").disabled and at.number_input(key="cmp_pred_seed").disabled
    at.file_uploader(key="cmp_pred_file").upload("q.jsonl", b'{"instruction": "hola"}\n', "application/jsonl").run()
    at.toggle(key="cmp_pred_greedy").set_value(False).run()
    at.slider(key="cmp_pred_temp").set_value(1.2)
    at.slider(key="cmp_pred_top_p").set_value(0.5)
    at.number_input(key="cmp_pred_seed").set_value(7)
    at.number_input(key="cmp_pred_max_new").set_value(3)
    at.button(key="cmp_pred_go").click().run()
    assert not at.exception and not at.error
    config = predictions.job_config(predictions.list_predictions()[0])
    assert (config.greedy, config.temperature, config.top_p, config.seed) == (False, 1.2, 0.5, 7)
    assert "sampled (temperature 1.2, top p 0.5), answers of up to 3 tokens, seed 7" in [c.value for c in at.caption]


def test_picking_the_better_answer_keeps_a_preference_pair_and_both_wrong_keeps_two(page, trained_run):
    from workbench.data import repository

    def turn(answer: str) -> list[dict]:
        return [{"role": "user", "content": "Repite: uno"}, {"role": "assistant", "content": answer}]

    at = page(PAGE)
    base, adapter = turn("dos tres"), turn("uno.")
    at.session_state["cmp_history"] = {"demo::__base__": base, "demo::words-demo": adapter}
    at.run()
    assert not at.exception
    assert at.selectbox(key="cmp_judge_dataset").value == "New dataset…"
    at.text_input(key="cmp_judge_new_name").set_value("mis-pares")
    at.button(key="cmp_judge_right").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    [pair] = repository.load_rows("mis-pares")
    assert repository.get_dataset("mis-pares").format == "preference"
    assert pair == {
        "prompt": [{"role": "user", "content": "Repite: uno"}],
        "chosen": adapter[-1]["content"],
        "rejected": base[-1]["content"],
    }
    assert "Kept in mis-pares: now 1 pair (revision" in at.success[0].value
    assert at.selectbox(key="cmp_judge_dataset").value == "mis-pares"  # the next choice goes there too
    at.toggle(key="cmp_judge_both").set_value(True).run()
    at.text_area(key="cmp_judge_written").set_value("uno")
    at.button(key="cmp_judge_add").click().run()
    rows = repository.load_rows("mis-pares")
    assert [r["chosen"] for r in rows[1:]] == ["uno", "uno"]
    assert [r["rejected"] for r in rows[1:]] == ["dos tres", "uno."]
    at.session_state["cmp_history"] = {"demo::__base__": turn("dos"), "demo::words-demo": turn("")}
    at.run()
    at.button(key="cmp_judge_right").click().run()
    assert "Not added: chosen: empty." in at.error[0].value and len(repository.load_rows("mis-pares")) == 3
    # both wrong, one side silent: kept against the other answer alone (an empty answer makes no pair)
    at.toggle(key="cmp_judge_both").set_value(True).run()
    at.text_area(key="cmp_judge_written").set_value("uno")
    at.button(key="cmp_judge_add").click().run()
    assert [(r["chosen"], r["rejected"]) for r in repository.load_rows("mis-pares")[3:]] == [("uno", "dos")]


def test_a_later_turns_pair_carries_the_answers_kept_as_right_not_the_sides_own(page, trained_run):
    from workbench.data import repository

    first = {"role": "user", "content": "Repite: uno"}
    at = page(PAGE)
    at.session_state["cmp_history"] = {
        "demo::__base__": [first, {"role": "assistant", "content": "dos tres"}],
        "demo::words-demo": [first, {"role": "assistant", "content": "uno."}],
    }
    at.run()
    at.text_input(key="cmp_judge_new_name").set_value("charla")
    at.toggle(key="cmp_judge_both").set_value(True).run()
    at.text_area(key="cmp_judge_written").set_value("uno")
    at.button(key="cmp_judge_add").click().run()
    assert not at.exception and not at.error

    second = {"role": "user", "content": "Repite: dos"}
    at.session_state["cmp_history"] = {
        "demo::__base__": [
            first,
            {"role": "assistant", "content": "dos tres"},
            second,
            {"role": "assistant", "content": "x"},
        ],
        "demo::words-demo": [
            first,
            {"role": "assistant", "content": "uno."},
            second,
            {"role": "assistant", "content": "y"},
        ],
    }
    at.run()
    assert at.text_area(key="cmp_judge_written").value == "x"  # this question's left answer, not the last correction
    at.text_area(key="cmp_judge_written").set_value("dos")
    at.button(key="cmp_judge_add").click().run()
    assert not at.exception and not at.error
    later = repository.load_rows("charla")[2:]
    assert [r["chosen"] for r in later] == ["dos", "dos"] and [r["rejected"] for r in later] == ["x", "y"]
    for row in later:  # the first answer kept as right ("uno"), never the base's "dos tres" or the adapter's "uno."
        assert row["prompt"] == [first, {"role": "assistant", "content": "uno"}, second]


def test_a_thumb_up_or_down_keeps_the_answer_rated_in_a_feedback_dataset(page, trained_run):
    from workbench.data import repository

    def turn(answer: str) -> list[dict]:
        return [{"role": "user", "content": "Repite: uno"}, {"role": "assistant", "content": answer}]

    at = page(PAGE)
    at.session_state["cmp_history"] = {"demo::__base__": turn("dos tres"), "demo::words-demo": turn("uno")}
    at.run()
    assert at.selectbox(key="cmp_rate_dataset").value == "New dataset…"
    at.text_input(key="cmp_rate_new_name").set_value("votos")
    at.button(key="cmp_rate_right_up").click().run()  # thumbs up on the adapter's answer
    assert not at.exception and not at.error
    assert repository.get_dataset("votos").format == "feedback"
    assert repository.load_rows("votos") == [
        {"prompt": [{"role": "user", "content": "Repite: uno"}], "completion": "uno", "label": True}
    ]
    assert "Kept in votos: now 1 rated answers" in at.success[0].value
    assert at.selectbox(key="cmp_rate_dataset").value == "votos"
    assert at.button(key="cmp_rate_right_down").disabled  # rated once
    at.button(key="cmp_rate_left_down").click().run()  # thumbs down on the base's
    assert [r["label"] for r in repository.load_rows("votos")] == [True, False]
    assert repository.load_rows("votos")[1]["completion"] == "dos tres"


def _mistakes_section(page):
    at = page(PAGE)
    at.button_group(key="cmp_section").set_value("Mistakes").run()
    assert not at.exception, at.exception
    return at


def test_pairs_from_mistakes_starts_answering_the_training_rows(page, trained_run, fake_launch):
    at = _mistakes_section(page)
    assert "No answers yet" in " ".join(c.value for c in at.caption)
    at.button(key="cmp_mis_answer").click().run()
    assert not at.exception and not at.error
    from workbench.prediction import mistakes

    [job] = mistakes.answering_jobs(trained_run["id"])
    assert fake_launch and fake_launch[0][0] == job["id"]
    assert "Answering the training rows running" in at.get("progress")[0].proto.text
    assert at.button(key="cmp_mis_answer").disabled  # one at a time
    assert at.button(key="cmp_mis_answer").label == "Answer the training rows"  # not "again" while it answers


def test_pairs_from_mistakes_previews_filters_and_saves_pairs(page, trained_run, wrong_answers):
    from workbench.data import repository
    from workbench.prediction import job as predictions
    from workbench.prediction import mistakes

    job_id = mistakes.answer_training_rows(trained_run["id"], start=False)
    assert predictions.run_predict(job_id, echo=False) == "completed"
    at = _mistakes_section(page)
    assert "Answering the training rows completed: 6/6 rows" in at.get("progress")[0].proto.text
    caption = " ".join(c.value for c in at.caption)
    assert "5 of 6 rows wrong by exact match below 1 (training rows, prediction job" in caption
    preview = at.dataframe[0].value
    assert list(preview.columns) == ["row", "prompt", "chosen (reference)", "rejected (adapter)", "exact_match"]
    assert set(preview["rejected (adapter)"]) == {"mal"} and len(preview) == 5
    # a table cell is text, not Markdown: "Repite: uno", never "Repite\\: uno"
    assert all(prompt.startswith("Repite: ") for prompt in preview["prompt"]), list(preview["prompt"])
    at.text_input(key="cmp_mis_dataset").set_value("fixes").run()
    at.button(key="cmp_mis_save").click().run()
    assert not at.exception and not at.error
    assert "fixes: revision 1, 5 pairs" in at.success[0].value
    assert repository.get_dataset("fixes").format == "preference"


def test_pairs_from_held_out_rows_say_those_rows_stop_measuring_generalisation(page, trained_run, wrong_answers):
    from workbench.evaluation import jobs as eval_jobs

    at = _mistakes_section(page)
    at.radio(key="cmp_mis_source").set_value("held-out evaluation").run()
    assert "No finished evaluation" in at.info[0].value
    eval_jobs.run_eval(eval_jobs.create_eval(trained_run["id"]), echo=False)
    at.run()
    assert "no longer measure how it does on rows it has not seen" in at.warning[0].value
    assert "Make a new held-out split" in at.warning[0].value
    assert "2 of 2 rows wrong" in " ".join(c.value for c in at.caption)


def test_hardest_rows_are_listed_with_their_loss_and_can_be_dropped_or_made_pairs(page, trained_run, wrong_answers):
    from workbench.data import repository
    from workbench.evaluation import hardest
    from workbench.prediction import job as predictions
    from workbench.prediction import mistakes

    at = _mistakes_section(page)
    assert [s.value for s in at.subheader] == ["Wrong answers → preference pairs", "Hardest training rows"]
    assert hardest.run_hardest(hardest.create_hardest(trained_run["id"])) == "completed"
    answers = mistakes.answer_training_rows(trained_run["id"], start=False)
    assert predictions.run_predict(answers, echo=False) == "completed"
    at.run()
    assert not at.exception
    table = next(frame.value for frame in at.dataframe if "loss" in frame.value.columns)
    assert list(table.columns) == ["row", "loss", "prompt", "answer (the label)"] and len(table) == 6
    assert list(table["loss"]) == sorted(table["loss"], reverse=True)
    assert all(prompt.startswith("Repite: ") for prompt in table["prompt"]), list(table["prompt"])  # not "Repite\\:"
    hardest_two = list(table["row"][:2])
    at.multiselect(key="cmp_hard_rows").set_value(hardest_two).run()
    at.button(key="cmp_hard_pairs").click().run()
    assert not at.exception and not at.error
    made = [s.value for s in at.success if "words-demo-pairs" in s.value]
    assert made and repository.get_dataset("words-demo-pairs").format == "preference"
    at.button(key="cmp_hard_drop").click().run()
    assert not at.exception and not at.error
    assert repository.get_dataset("words").latest.rows == 6  # 8 rows, 2 dropped
    assert repository.get_dataset("words").latest.split is not None


def test_the_best_two_link_puts_one_adapter_against_the_other_and_scores_them_head_to_head(
    page, trained_run, fake_launch
):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from workbench.evaluation import results as eval_results

    other = register_copy(trained_run, "words-copy")
    at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / PAGE), default_timeout=60)
    at.query_params["run"] = str(trained_run["id"])
    at.query_params["against"] = str(other)
    at.run()
    assert not at.exception, at.exception
    assert (at.selectbox(key="cmp_left").value, at.selectbox(key="cmp_right").value) == ("words-copy", "words-demo")
    assert not at.warning
    at.button_group(key="cmp_section").set_value("Held-out evaluation").run()
    assert any("**words-demo** against **words-copy**" in c.value for c in at.caption)
    at.number_input(key="cmp_eval_limit").set_value(2)
    next(b for b in at.button if b.label == "Evaluate both").click().run()  # against the other run, not the base
    job = eval_results.latest_job(trained_run["id"], other)
    assert job is not None and job["against"] == other and eval_results.latest_job(trained_run["id"]) is None
