import json
import time

from workbench.jobs import queue, registry
from workbench.training import runs

PAGE = "pages/train.py"


def _set(at, field, value):
    widget = next(w for w in [*at.number_input, *at.text_input, *at.checkbox, *at.selectbox] if w.key == f"tc_{field}")
    widget.set_value(value)


def test_opens_with_the_sample_dataset_cpu_preset_and_memory_estimate(page):
    at = page(PAGE)
    assert not at.exception
    assert at.selectbox(key="train_dataset").value == "informes-proyectos"
    assert any("CPU preset" in c.value for c in at.caption)
    assert at.number_input(key="tc_lora_r").value == 16  # the CPU preset, no GPU here
    assert any("No GPU" in i.value for i in at.info)
    assert not at.button(key="train_launch").disabled


def test_invalid_settings_are_listed_and_block_launch(page):
    at = page(PAGE)
    _set(at, "lora_r", 0)
    _set(at, "max_length", 8)
    at.run()
    message = at.error[0].value
    assert "lora_r: 0" in message and "max_length: 8" in message
    assert at.button(key="train_launch").disabled


def test_launch_starts_a_background_run_and_shows_it_live(page):
    at = page(PAGE)
    _set(at, "max_steps", 3)
    _set(at, "eval_steps", 2)
    _set(at, "auto_evaluate", False)
    at.run()
    at.button(key="train_launch").click().run()
    assert not at.exception
    run = runs.list_runs()[0]
    assert run["status"] in ("running", "completed") and run["pid"]
    assert at.subheader[0].value == "Live"
    final = runs.wait_for(run["id"], poll=0.5, timeout=120)
    assert final["status"] == "completed", final["error"]
    at.run()
    assert any("completed" in m.value for m in at.markdown)


def test_cancel_button_asks_the_running_run_to_stop(page):
    at = page(PAGE)
    _set(at, "max_steps", 400)
    _set(at, "auto_evaluate", False)
    at.run()
    at.button(key="train_launch").click().run()
    run = runs.list_runs()[0]
    at.button(key=f"train_cancel_{run['id']}").click().run()
    assert runs.get_run(run["id"])["status"] in ("cancelling", "cancelled")
    final = runs.wait_for(run["id"], poll=0.5, timeout=120)
    assert final["status"] == "cancelled"
    time.sleep(0.1)


def _completed_run_with_metrics(steps: int) -> int:
    from workbench.data import repository
    from workbench.training.config import TrainConfig, cpu_preset

    repository.ensure_samples()
    run_id = runs.create_run(cpu_preset(TrainConfig(dataset="informes-proyectos", base_model="demo")), name="seen")
    from workbench.jobs import registry

    registry.finish(runs.get_run(run_id)["job_id"], "completed")
    _add_metrics(run_id, range(1, steps + 1))
    return run_id


def _add_metrics(run_id: int, steps) -> None:
    from workbench import store

    store.open_db()["metrics"].insert_all(
        [
            {"run_id": run_id, "step": s, "epoch": s / 10, "name": name, "value": 1.0 / s, "ts": store.now()}
            for s in steps
            for name in ("loss", "learning_rate", "tokens_per_second")
        ]
    )


def test_the_live_view_reads_only_the_metric_rows_added_since_its_last_poll(page, monkeypatch):
    from ui.train.live import cache_key

    asked = []
    real = runs.run_metrics_after
    monkeypatch.setattr(runs, "run_metrics_after", lambda run_id, after=0: asked.append(after) or real(run_id, after))
    run_id = _completed_run_with_metrics(5)
    at = page(PAGE)
    at.session_state["train_watch"] = run_id
    at.run()
    assert not at.exception
    charts = at.get("vega_lite_chart")
    assert len(charts) == 3  # loss, learning rate, tokens per second (no GPU memory on this run)
    key = cache_key(runs.get_run(run_id))
    seen = at.session_state["live_metrics"][key]
    assert asked[-1] == 0 and len(seen["rows"]) == 15

    had = seen["rowid"]
    _add_metrics(run_id, [6, 7])
    at.run()
    assert asked[-1] == had > 0  # asked only for the rows after those it had
    seen = at.session_state["live_metrics"][key]
    assert len(seen["rows"]) == 21 and sorted(r["step"] for r in seen["rows"])[-1] == 7
    spec = at.session_state["live_chart_specs"][key][1][0]
    assert max(row["step"] for rows in spec["datasets"].values() for row in rows) == 7


def test_a_queued_run_says_what_it_waits_for(page, fake_launch):
    from workbench.data import repository
    from workbench.training.config import TrainConfig, cpu_preset

    repository.ensure_samples()
    config = cpu_preset(TrainConfig(dataset="informes-proyectos", base_model="demo"))
    runs.start_run(config, name="first")
    waiting = runs.start_run(config, name="second")
    at = page(PAGE)
    at.session_state["train_watch"] = waiting
    at.run()
    assert not at.exception
    captions = [c.value for c in at.caption]
    assert any(c.startswith("Queued: waits for “Train first” (running)") for c in captions), captions
    assert not any("loading the model" in c for c in captions)


def test_the_log_leaves_library_notices_out_and_says_so(page):
    from workbench import paths

    run_id = _completed_run_with_metrics(2)
    log = paths.run_dir("seen") / runs.LOG_FILE
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(
        "Failed to load CPU gemm_4bit_forward from kernels-community: No module named 'kernels'.\nstep 2/2 · loss 0.5\n"
    )
    at = page(PAGE)
    at.session_state["train_watch"] = run_id
    at.run()
    shown = [c.value for c in at.code]
    assert any("step 2/2 · loss 0.5" in c and "gemm_4bit" not in c for c in shown), shown
    assert any("1 line(s) of harmless library notices left out" in c.value for c in at.caption)


def test_train_settings_survive_a_visit_to_another_page_and_the_last_dataset_is_the_default(page):
    from workbench.data import repository

    repository.ensure_samples()
    repository.create_dataset(
        "zz-latest", "alpaca", [{"instruction": f"q{i}", "input": "", "output": "a"} for i in range(4)]
    )
    at = page("app.py")
    at.switch_page("pages/train.py").run()
    assert at.selectbox(key="train_dataset").value == "zz-latest"  # the last imported, not the first by name
    at.selectbox(key="train_dataset").set_value("informes-proyectos").run()
    at.number_input(key="tc_max_steps").set_value(7).run()
    at.text_input(key="train_run_name").set_value("my-run").run()
    at.switch_page("pages/datasets.py").run()
    assert at.title[0].value == "Datasets"
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="train_dataset").value == "informes-proyectos"
    assert at.number_input(key="tc_max_steps").value == 7
    assert at.text_input(key="train_run_name").value == "my-run"


def test_with_the_cpu_preset_in_use_the_page_does_not_advise_it(page):
    at = page(PAGE)
    assert not at.exception
    said = " ".join(
        [c.value for c in at.caption]
        + [i.value for i in at.info]
        + [m.value for m in at.markdown]
        + [s.value for s in at.success]
        + [w.value for w in at.warning]
    )
    assert "with the CPU preset" in said and "use the CPU preset" not in said


def test_the_queue_lists_every_job_with_what_it_waits_for(page, fake_launch):
    from workbench.data import repository
    from workbench.jobs import registry
    from workbench.training.config import TrainConfig, cpu_preset

    repository.ensure_samples()
    runs.start_run(cpu_preset(TrainConfig(dataset="informes-proyectos", base_model="demo")), name="busy")
    registry.create("export", "Export old as GGUF (q8_0)", run_id=None)
    at = page(PAGE)
    assert not at.exception, at.exception
    table = next(frame.value for frame in at.dataframe if "job" in frame.value.columns)
    assert list(table["job"]) == ["Train busy", "Export old as GGUF (q8_0)"]
    assert table["where it stands"].iloc[1].startswith("queued: waits for “Train busy” (running)")


def test_a_link_with_a_dataset_opens_it_and_the_choice_stays_in_the_url(page):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from workbench.data import repository

    repository.create_dataset("faq", "alpaca", [{"instruction": f"q{i}", "input": "", "output": "a"} for i in range(4)])
    at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / PAGE), default_timeout=60)
    at.query_params["dataset"] = "faq"
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="train_dataset").value == "faq"
    at.selectbox(key="train_dataset").set_value("informes-proyectos").run()
    assert at.query_params["dataset"] == "informes-proyectos"


def test_rows_over_max_length_are_said_before_launch_with_the_fix(page):
    from workbench.data import repository

    rows = [{"instruction": f"q{i}", "input": "", "output": "a"} for i in range(3)]
    rows.append({"instruction": "Repite", "input": "", "output": "palabra " * 300})  # about 1,200 demo tokens
    repository.create_dataset("long", "alpaca", rows)
    at = page(PAGE)
    at.selectbox(key="train_dataset").set_value("long").run()
    assert not at.exception, at.exception
    [notice] = [w.value for w in at.warning if "max_length" in w.value]
    assert notice.startswith("1 of 4 rows is longer than max_length 1024: 1 will be truncated (the answer cut short)")
    assert "raise max_length to 1," in notice and notice.endswith("to keep them whole, or shorten them.")
    assert "long.jsonl:4:" in next(e for e in at.expander if e.label == "The row").code[0].value
    _set(at, "max_length", 2048)
    at.run()
    assert not [w for w in at.warning if "max_length" in w.value]
    assert not at.button(key="train_launch").disabled
    _set(at, "max_length", 4096)  # past what the model reads: said, with the most that helps
    at.run()
    assert "max_length 4,096 is more than demo reads (2,048 tokens)" in " ".join(w.value for w in at.warning)


def _pairs_dataset():
    from workbench.data import repository
    from workbench.data.split import SplitSpec

    pairs = [
        {"prompt": [{"role": "user", "content": f"Repite: {w}"}], "chosen": w, "rejected": f"{w} {w}"}
        for w in ("uno", "dos", "tres", "cuatro", "cinco", "seis")
    ]
    repository.create_dataset("pairs", "preference", pairs)
    repository.make_split("pairs", 1, SplitSpec(seed=1, validation_count=2))


def test_a_preference_dataset_offers_its_objectives_and_goes_on_from_the_sft_run(page, trained_run):
    _pairs_dataset()
    at = page(PAGE)
    at.selectbox(key="train_dataset").set_value("pairs").run()
    at.selectbox(key="train_base").set_value("demo").run()
    assert not at.exception
    objective = at.selectbox(key="tc_objective")
    assert objective.options == [
        "DPO: prefers the chosen answer of each pair over the rejected one, staying near its reference",
        "ORPO: learns the chosen answers and, in one loss, to prefer them over the rejected ones (no reference)",
        "KTO: raises the answers labelled good and lowers the bad ones, staying near its reference",
    ]
    assert objective.value == "dpo"
    assert at.selectbox(key="tc_start_from").value == "words-demo"  # the newest supervised run of this base
    assert any("Reference: run words-demo's adapter" in c.value for c in at.caption)
    assert at.number_input(key="tc_beta").value == 0.1
    assert at.selectbox(key="tc_loss_type").value == "auto"

    # the user's choice of a new adapter stays; KTO adds its weights and has no DPO loss types
    at.selectbox(key="tc_start_from").set_value("").run()
    at.selectbox(key="tc_objective").set_value("kto").run()
    assert at.selectbox(key="tc_start_from").value == "words-demo"  # said once per objective
    at.selectbox(key="tc_start_from").set_value("").run()
    at.run()
    assert at.selectbox(key="tc_start_from").value == ""
    assert not at.number_input(key="tc_lora_r").disabled  # a new adapter: its LoRA shape is the form's
    assert at.number_input(key="tc_desirable_weight").value == 1.0
    assert at.selectbox(key="tc_loss_type").options == ["auto", "kto", "apo_zero_unpaired"]


def test_an_sft_dataset_trains_sft_by_default_or_grpo(page):
    at = page(PAGE)
    assert at.selectbox(key="tc_objective").value == "sft"
    assert at.selectbox(key="tc_objective").options == [
        "SFT: copies the answers of instruction or chat rows (supervised fine-tuning)",
        "GRPO: samples several answers per prompt and reinforces the better-scored ones (rewards from your metrics)",
    ]
    assert not [w for w in at.number_input if w.key == "tc_beta"]
    assert not at.multiselect


def test_grpo_goes_on_from_the_newest_sft_run_of_the_dataset_with_rewards_picked_from_the_metrics(
    page, trained_run, fake_launch
):
    at = page(PAGE)
    at.selectbox(key="train_dataset").set_value("words").run()
    at.selectbox(key="train_base").set_value("demo").run()
    at.selectbox(key="tc_objective").set_value("grpo").run()
    assert not at.exception
    assert at.selectbox(key="tc_start_from").value == "words-demo"  # the newest SFT run on this dataset
    # its LoRA shape goes on: the form's shows, greyed out (it was editable, and unused)
    assert at.number_input(key="tc_lora_r").disabled and at.selectbox(key="tc_target_modules_choice").disabled
    assert not at.number_input(key="tc_learning_rate").disabled
    assert any("GRPO starts at learning rate 5e-05 for 30 steps" in c.value for c in at.caption)
    assert at.number_input(key="tc_learning_rate").value == 5e-5 and at.number_input(key="tc_max_steps").value == 30
    rewards = at.multiselect(key="grpo_reward_names")
    # words has plain-text answers: the default JSON rewards (field F1, valid JSON) would be refused, so the page
    # puts ROUGE-L in their place and says why
    assert rewards.value == ["rouge_l"] and not at.error
    assert any(
        "Rewards fitted to 'words': its answers are text, not JSON, so ROUGE-L" in c.value
        and "in place of field F1 and valid JSON" in c.value
        for c in at.caption
    ), [c.value for c in at.caption]
    assert at.number_input(key="tc_num_generations").value == 4
    said = " ".join([c.value for c in at.caption] + [i.value for i in at.info] + [m.value for m in at.markdown])
    assert "with the CPU preset" in said and "use the CPU preset" not in said  # GRPO's own batch and rate on it
    # memory counted on the dataset's longest prompt and the sampled answer, not on max_length
    assert any(
        c.value.startswith("Sequences of up to") and "up to 256 sampled tokens" in c.value for c in at.caption
    ), [c.value for c in at.caption]

    # the user's own choice stays theirs: JSON rewards on text answers are refused with what to use, before launch
    at.multiselect(key="grpo_reward_names").set_value(["field_f1"]).run()
    assert at.multiselect(key="grpo_reward_names").value == ["field_f1"]
    assert any("no reference answer of dataset 'words' is JSON" in e.value for e in at.error)
    assert at.button(key="train_launch").disabled
    at.multiselect(key="grpo_reward_names").set_value([]).run()
    assert any("rewards: none chosen — pick at least one: json_valid" in e.value for e in at.error)
    at.multiselect(key="grpo_reward_names").set_value(["rouge_l", "regex"]).run()
    at.number_input(key="grpo_weight_rouge_l").set_value(2.0).run()
    assert any("reward_pattern: empty" in e.value for e in at.error)  # the regex reward needs its pattern
    at.text_input(key="tc_reward_pattern").set_value(r"^\w+$").run()
    _set(at, "auto_evaluate", False)
    at.run()
    at.button(key="train_launch").click().run()
    assert not at.exception
    config = runs.run_config(runs.list_runs()[0])
    assert (config.objective, config.start_from, config.rewards) == ("grpo", "words-demo", "rouge_l:2,regex:1")
    assert config.reward_pattern == r"^\w+$" and config.per_device_batch_size == 4

    # back to SFT: the preset's batch, steps and rate again
    at.selectbox(key="tc_objective").set_value("sft").run()
    assert (
        at.number_input(key="tc_max_steps").value == -1 and at.number_input(key="tc_per_device_batch_size").value == 2
    )


def test_grpo_on_a_dataset_of_json_answers_keeps_the_json_rewards(page):
    at = page(PAGE)
    assert at.selectbox(key="train_dataset").value == "informes-proyectos"  # the sample task: JSON answers
    at.selectbox(key="tc_objective").set_value("grpo").run()
    assert not at.exception
    assert at.multiselect(key="grpo_reward_names").value == ["field_f1", "json_valid"]
    assert not any("Rewards fitted" in c.value for c in at.caption) and not at.error


def test_a_dpo_run_launched_from_the_page_charts_its_rewards_live(page, trained_run):
    _pairs_dataset()
    at = page(PAGE)
    at.selectbox(key="train_dataset").set_value("pairs").run()
    at.selectbox(key="train_base").set_value("demo").run()
    _set(at, "max_steps", 4)
    _set(at, "auto_evaluate", False)
    at.run()
    at.button(key="train_launch").click().run()
    assert not at.exception
    run = runs.list_runs()[0]
    assert runs.run_config(run).objective == "dpo" and runs.run_config(run).start_from == "words-demo"
    final = runs.wait_for(run["id"], poll=0.5, timeout=120)
    assert final["status"] == "completed", final["error"]
    at.session_state["train_watch"] = run["id"]
    at.run()
    titles = [json.loads(chart.proto.spec)["title"] for chart in at.get("vega_lite_chart")]
    assert "Rewards" in titles and "Reward accuracy" in titles, titles


def test_changing_the_objective_puts_its_learning_rate_in_the_form(page, trained_run):
    _pairs_dataset()
    at = page(PAGE)
    at.selectbox(key="train_dataset").set_value("pairs").run()
    assert at.number_input(key="tc_learning_rate").value == 2e-5  # DPO's, measured
    assert any("DPO starts at learning rate 2e-05, 1 epoch (measured: a higher rate" in c.value for c in at.caption)
    at.selectbox(key="tc_objective").set_value("orpo").run()
    assert at.number_input(key="tc_learning_rate").value == 2e-4
    at.selectbox(key="train_dataset").set_value("informes-proyectos").run()  # an SFT dataset: back to the preset
    assert at.selectbox(key="tc_objective").value == "sft"
    assert at.number_input(key="tc_learning_rate").value == 2e-3 and at.number_input(key="tc_num_epochs").value == 3.0


def test_where_it_trains_says_the_processes_and_effective_batch_and_the_run_gets_them(page, fake_launch):
    at = page(PAGE)
    assert any(c.value.startswith("Trains on 1 CPU process.") for c in at.caption)
    _set(at, "num_processes", 2)
    _set(at, "auto_evaluate", False)
    at.run()
    [placement] = [c.value for c in at.caption if c.value.startswith("Trains on")]
    batch = at.number_input(key="tc_per_device_batch_size").value
    accumulation = at.number_input(key="tc_gradient_accumulation_steps").value
    assert placement.startswith("Trains on 2 CPU processes (data parallel, gloo).")
    assert f"Effective batch: {batch} × {accumulation} = {batch * accumulation} rows a step" in placement
    assert "kept in 2 processes as" in placement  # the batch set stays the batch trained
    _set(at, "gpus", "1")
    at.run()
    assert any("num_processes: 2 with gpus '1' — one process per chosen GPU (1)" in e.value for e in at.error)
    _set(at, "gpus", "")
    at.run()
    at.button(key="train_launch").click().run()
    assert not at.exception
    job = registry.get(runs.list_runs()[0]["job_id"])
    assert registry.args(job)["processes"] == 2
    assert "--multi_gpu" in queue.worker_command(job)  # accelerate's torch.distributed launcher, on the CPU too


def test_the_run_is_written_as_a_cluster_folder_for_two_machines(page):
    from workbench import paths

    at = page(PAGE)
    at.number_input(key="cluster_machines").set_value(2)
    at.number_input(key="cluster_processes").set_value(4)
    at.text_input(key="cluster_main_ip").set_value("10.0.0.5")
    at.text_input(key="cluster_run_name").set_value("big-run")
    at.button(key="cluster_write").click().run()
    assert not at.exception
    folder = paths.exports_dir("big-run") / "cluster"
    assert any(f"Wrote `{folder}`" in s.value for s in at.success)
    plan = json.loads((folder / "run.json").read_text())
    assert plan["placement"]["num_machines"] == 2 and plan["placement"]["processes_per_machine"] == 4
    assert '--machine_rank 1 --main_process_ip "${MAIN_PROCESS_IP:-10.0.0.5}"' in (folder / "machine-1.sh").read_text()


def test_the_page_says_what_stop_when_good_checks_on_a_dataset_with_few_held_out_rows(page, trained_run):
    at = page(PAGE)
    assert not any("validation rows, so each check" in c.value for c in at.caption)  # the sample: 20 of them
    at.selectbox(key="train_dataset").set_value("words").run()
    assert not at.exception
    assert any(
        "This dataset revision holds 2 validation rows, so each check answers those 2; the target 0.75 means 2 of 2 "
        "right." in c.value
        for c in at.caption
    ), [c.value for c in at.caption]


def test_check_rows_words_say_nothing_when_the_settings_hold_and_say_no_checks_without_rows():
    from ui.train.config_form import check_rows_words
    from workbench.training.config import cpu_preset

    preset = cpu_preset()
    assert check_rows_words(preset, 8) is None and check_rows_words(preset, 30) is None
    assert check_rows_words(preset.with_updates(task_metric="off"), 2) is None
    assert "no validation rows, so no checks" in (check_rows_words(preset, 0) or "")
    assert check_rows_words(preset.with_updates(stop_at=0.0), 3).endswith("each check answers those 3.")
