import json
import time

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
    from workbench.evaluation import runner

    job_id = runner.create_eval(trained_run["id"], split="all", limit=3)
    assert runner.run_eval(job_id, echo=False) == "completed"
    at = page(PAGE)
    at.button_group(key="cmp_section").set_value("Held-out evaluation").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert {"exact_match", "rouge_l", "loss", "perplexity"} <= set(table["metric"])
    assert list(table.columns[:4]) == ["metric", "base", "adapter", "delta"]
    assert "3 of 3 rows" in " ".join(c.value for c in at.caption)
    verdicts = [r["details"]["verdict"] for r in runner.rows(trained_run["id"])]
    at.button_group(key="cmp_eval_filter").set_value(verdicts[0]).run()
    shown = sum(v == verdicts[0] for v in verdicts)
    assert f"{shown} of 3 rows" in " ".join(c.value for c in at.caption)


def test_evaluate_button_starts_a_background_job(page, trained_run):
    from workbench.evaluation import runner

    at = page(PAGE)
    at.button_group(key="cmp_section").set_value("Held-out evaluation").run()
    assert at.selectbox(key="cmp_eval_revision").value == 1  # the revision the adapter trained on
    at.number_input(key="cmp_eval_limit").set_value(1)
    next(b for b in at.button if b.label == "Evaluate both").click().run()
    assert not at.exception
    job = runner.latest_job(trained_run["id"])
    assert job["limit_n"] == 1 and job["split"] == "validation"
    assert job["revision_id"] == trained_run["dataset_revision_id"]
    deadline = time.monotonic() + 120
    while runner.get_job(job["id"])["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, "evaluation did not finish"
        time.sleep(0.5)
    assert runner.get_job(job["id"])["status"] == "completed", runner.get_job(job["id"])["error"]


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
    from workbench.evaluation import runner
    from workbench.jobs import registry

    job_id = runner.create_eval(trained_run["id"], split="all", limit=3)
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
    from workbench.evaluation import runner

    job_id = runner.create_eval(trained_run["id"], split="all", limit=2)
    assert runner.run_eval(job_id, echo=False) == "completed"
    assert any(row["base"] is None and row["adapter"] is None for row in runner.results(trained_run["id"]))
    at = page(PAGE)
    at.button_group(key="cmp_section").set_value("Held-out evaluation").run()
    table = at.dataframe[0].value
    assert "exact_match" in list(table["metric"]) and not table[table["base"].isna() & table["adapter"].isna()].shape[0]
