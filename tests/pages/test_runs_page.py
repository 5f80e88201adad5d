import json
from pathlib import Path

import pandas as pd

from ui.train import live
from workbench import store
from workbench.data import repository
from workbench.jobs import registry
from workbench.training import runs
from workbench.training.config import TrainConfig

PAGE = "pages/runs.py"


def _finished_run(name, losses):
    if "tiny" not in repository.dataset_names():
        repository.create_dataset(
            "tiny", "alpaca", [{"instruction": f"q{i}", "input": "", "output": "a"} for i in range(4)]
        )
    run_id = runs.create_run(TrainConfig(dataset="tiny"), name=name)
    db = store.open_db()
    registry.update(
        runs.get_run(run_id)["job_id"],
        {"status": "completed", "started": "2026-01-01T10:00:00+00:00", "finished": "2026-01-01T10:03:00+00:00"},
    )
    db["metrics"].insert_all(
        [{"run_id": run_id, "step": i + 1, "epoch": 0.1 * i, "name": "loss", "value": v} for i, v in enumerate(losses)]
    )
    return run_id


def test_lists_runs_with_status_dataset_duration_and_loss(page):
    _finished_run("first", [3.0, 2.0, 1.5])
    at = page(PAGE)
    assert not at.exception
    table = at.dataframe[0].value
    row = table.iloc[0]
    assert row["run"] == "first" and row["status"] == "completed" and row["dataset"] == "tiny r1"
    assert row["duration"] == "3.0 min" and row["loss"] == 1.5
    assert pd.isna(row["eval loss"]) and table["eval loss"].dtype.kind == "f"  # a gap, not the text "None"
    assert row["created"].year >= 2026  # a time, shown whole (the ISO text was cut)
    config = json.loads(at.dataframe[0].proto.columns)
    assert config["loss"]["type_config"]["format"] == "%.4g"  # 1e-5 read 0.0000 at "%.4f"
    assert config["loss"]["width"] == config["created"]["width"] == "medium"  # 0.000006761 and the date whole
    assert any("first" in m.value and "completed" in m.value for m in at.markdown)


def test_empty_history_points_to_the_train_page(page):
    at = page(PAGE)
    assert "launch one on the Train page" in at.info[0].value


def test_delete_with_confirmation(page):
    run_id = _finished_run("doomed", [1.0])
    at = page(PAGE)
    at.button(key=f"runs_delete_{run_id}").click().run()
    assert not at.exception
    assert runs.list_runs() == []


def test_overlay_chart_puts_each_selected_run_on_one_chart():
    from ui.train.live import overlay_chart

    first, second = _finished_run("a", [3.0, 2.0]), _finished_run("b", [2.5, 1.0, 0.5])
    spec = overlay_chart([first, second], "loss").to_dict()
    assert spec["encoding"]["x"]["axis"] == {"format": "d", "tickMinStep": 1}  # no ticks at half steps
    values = next(iter(spec["datasets"].values()))
    assert sorted({v["run"] for v in values}) == ["a", "b"] and len(values) == 5
    assert spec["encoding"]["color"]["field"] == "run"
    assert overlay_chart([first], "eval_loss") is None


def test_a_link_with_a_run_opens_its_view_on_top(page):
    from streamlit.testing.v1 import AppTest

    first = _finished_run("first", [3.0, 2.0])
    _finished_run("second", [2.5, 1.5])
    at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / PAGE), default_timeout=60)
    at.query_params["run"] = str(first)
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="runs_focus").value == first  # not the newest, the one linked
    headers = [m.value for m in at.markdown if m.value.endswith("— completed")]
    assert headers and headers[0].endswith("**first** — completed")  # its live view, drawn before the table
    assert at.subheader[0].value == "All runs"
    at.selectbox(key="runs_focus").set_value(runs.get_run("second")["id"]).run()
    assert at.selectbox(key="runs_focus").value == runs.get_run("second")["id"]  # the link does not pin it
    assert at.query_params["run"] == str(runs.get_run("second")["id"])  # a reload opens what the user chose


def test_the_sidebar_links_a_running_job_to_its_run_view(page, fake_launch):
    run_id = _finished_run("watched", [1.0])
    from workbench.jobs import queue, registry

    registry.requeue(runs.get_run(run_id)["job_id"])
    queue.schedule()
    at = page("app.py")
    links = at.get("page_link")
    assert any(
        link.proto.label == "Open its view" and link.proto.page == "runs" and link.proto.query_string == f"run={run_id}"
        for link in links
    ), [(link.proto.label, link.proto.page, link.proto.query_string) for link in links]


def test_a_long_run_charts_without_hitting_altairs_row_limit():
    """Found by the load test: 1,750 steps of loss, learning rate and speed made 5,233 rows and the live view
    raised Altair's MaxRowsError."""
    import pandas as pd

    from ui.train.live import MAX_POINTS, _line

    frame = pd.DataFrame(
        [{"step": s, "epoch": s / 100, "name": n, "value": 1.0 / s} for s in range(1, 20_001) for n in ("loss", "x")]
    )
    spec = _line(frame, "Loss", color="name").to_dict()
    [rows] = spec["datasets"].values()
    assert len(rows) <= 2 * (MAX_POINTS + 1)
    assert {(r["name"], r["step"]) for r in rows} >= {("loss", 1), ("loss", 20_000), ("x", 20_000)}


def test_a_cancelling_run_says_what_it_waits_for_and_how_long_a_step_takes(page):
    import json
    import os

    run_id = _finished_run("slow", [3.0])
    job_id = runs.get_run(run_id)["job_id"]
    registry.update(job_id, {"status": "cancelling", "pid": os.getpid(), "heartbeat": store.now()})
    progress = {"phase": "training", "step": 3, "max_steps": 40, "epoch": 0.1, "seconds_per_step": 75.0}
    registry.update(job_id, {"progress_json": json.dumps(progress)})
    at = page(PAGE)
    assert not at.exception, at.exception
    assert any("slow" in m.value and "cancelling" in m.value for m in at.markdown)
    assert any(
        "Stopping after the current step (a step takes about 1 min 15 s on this machine), then saving the adapter"
        in i.value
        for i in at.info
    ), [i.value for i in at.info]

    registry.update(job_id, {"progress_json": json.dumps({**progress, "phase": "evaluating"})})
    at.run()
    assert any("Stopping after the evaluation pass under way" in i.value for i in at.info)


def test_an_adapter_trained_elsewhere_is_imported_from_the_page(page, demo_model_dir, tmp_path, fake_launch):
    from tests.workbench.training.test_imported import peft_adapter
    from workbench.jobs import worker as job_worker

    folder = peft_adapter(demo_model_dir, tmp_path / "axolotl-out")
    at = page(PAGE)  # no runs yet: the import is open
    assert any("import an adapter" in m.value for m in at.info)
    at.text_input[0].set_value(str(tmp_path / "missing"))
    at.button[0].click().run()
    assert "no such folder" in at.error[0].value and runs.list_runs() == []
    at.text_input[0].set_value(str(folder))
    at.text_input[1].set_value("from-axolotl")
    at.button[0].click().run()
    assert not at.exception
    [(job_id, _)] = fake_launch
    assert any("Import adapter from-axolotl" in m.value for m in at.info)
    assert job_worker.run(job_id, schedule_next=False) == "completed"
    at.run()
    assert not at.exception
    assert any("Imported as run **from-axolotl**: open above" in m.value for m in at.success)
    assert runs.get_run("from-axolotl")["status"] == "imported"
    assert at.selectbox(key="runs_focus").value == runs.get_run("from-axolotl")["id"]  # in the Run box, open
    table = next(d.value for d in at.dataframe if "run" in d.value.columns)
    assert table.set_index("run").loc["from-axolotl", "dataset"] == "(none)"  # no dataset named: not "(deleted)"

    # a second import beside an existing run: the page's Run box gains it and opens it
    second = peft_adapter(demo_model_dir, tmp_path / "unsloth-out")
    at.text_input[0].set_value(str(second))
    at.text_input[1].set_value("from-unsloth")
    next(b for b in at.button if b.label == "Import").click().run()
    job_id = fake_launch[-1][0]
    assert job_worker.run(job_id, schedule_next=False) == "completed"
    at.run()
    assert not at.exception
    assert at.selectbox(key="runs_focus").value == runs.get_run("from-unsloth")["id"]
    at = page(PAGE)  # the run's own view (the newest run's) says where it came from
    assert any("Imported from" in m.value and "unsloth-out" in m.value for m in at.info)


def test_grpos_reward_gets_its_mean_over_the_last_steps_beside_it():
    import pandas as pd

    from ui.train.live import with_moving_mean

    rewards = [1.0, 0.0, 1.0, 0.0, 0.5]
    frame = pd.DataFrame([{"step": s, "epoch": 0.1, "name": "reward", "value": v} for s, v in enumerate(rewards, 1)])
    frame = pd.concat([frame, pd.DataFrame([{"step": 1, "epoch": 0.1, "name": "kl", "value": 0.2}])])
    out = with_moving_mean(frame, "reward", 2)
    mean = out[out["name"] == "reward, mean of 2 steps"]
    assert list(mean["step"]) == [1, 2, 3, 4, 5]
    assert list(mean["value"]) == [1.0, 0.5, 0.5, 0.5, 0.25]
    assert len(out) == len(frame) + 5  # the reward and the other series kept as they were
    one_step = frame[frame["step"] == 1]
    assert with_moving_mean(one_step, "reward", 2) is one_step  # a single point has no trend to draw


def test_a_grpo_run_charts_its_rewards_and_shows_the_latest_sampled_answers_as_text(page):
    import json

    from workbench.training.samples import write_samples

    _finished_run("sft-first", [2.0, 1.0])
    run_id = runs.create_run(
        TrainConfig(
            dataset="tiny",
            objective="grpo",
            rewards="rouge_l:1,length:0.5",
            reward_max_chars=20,
            per_device_batch_size=4,
        ),
        name="grpo-run",
    )
    registry.update(runs.get_run(run_id)["job_id"], {"status": "completed", "started": "2026-01-01T10:00:00+00:00"})
    rows = []
    for step, (reward, rouge, spread) in enumerate([(0.4, 0.3, 0.2), (0.7, 0.6, 0.1)], start=1):
        for name, value in (
            ("loss", 0.01),
            ("reward", reward),
            ("rewards/rouge_l/mean", rouge),
            ("rewards/length/mean", 0.2),
            ("reward_group_std", spread),
            ("kl", 0.001 * step),
            ("completions/mean_length", 12.0),
        ):
            rows.append({"run_id": run_id, "step": step, "epoch": 0.1 * step, "name": name, "value": value})
    rows += [
        {"run_id": run_id, "step": step, "epoch": 0.1, "name": "frac_reward_zero_std", "value": 1.0}
        for step in range(1, 6)
    ]
    store.open_db()["metrics"].insert_all(rows)
    answers = ["<b>a</b> **bold**", "a", "q1?", "a a"]
    batch = [
        {"prompt": "q0", "answer": text, "rewards": {"rouge_l": 0.5, "length": 1.0}, "reward": 1.0, "advantage": 0.0}
        for text in answers
    ]
    write_samples("grpo-run", 2, 2, ["rouge_l", "length"], batch)

    at = _open_run(run_id)
    assert not at.exception, at.exception
    titles = [json.loads(chart.proto.spec)["title"] for chart in at.get("vega_lite_chart")]
    assert {"Reward (GRPO)", "Reward spread", "KL from the reference", "Sampled answer length (tokens)"} <= set(titles)
    reward_chart = next(
        c.proto for c in at.get("vega_lite_chart") if json.loads(c.proto.spec)["title"] == "Reward (GRPO)"
    )
    drawn = json.dumps(json.loads(reward_chart.spec)) + "".join(str(d) for d in reward_chart.datasets)
    assert all(name in drawn for name in ("rewards/rouge_l/mean", "rewards/length/mean"))  # a line per reward
    assert "reward, mean of 10 steps" in drawn  # the trend, one prompt's luck a step smoothed out
    encoding = json.loads(reward_chart.spec)["encoding"]
    legend = encoding["color"]["legend"]
    assert (legend["orient"], legend["labelLimit"], legend["columns"]) == ("top", 0, 1)  # long names: one a row
    # the plot keeps its 220 px, the legend and axes are added around it (Streamlit's "fit" squeezed the plot)
    spec = json.loads(reward_chart.spec)
    assert spec["height"] == 220 and spec["autosize"] == {"type": "fit-x", "contains": "padding"}
    assert encoding["y"]["axis"]["labelExpr"] == live.TICK_LABEL
    assert any(m.value.startswith("**Sampled answers at step 2**") for m in at.markdown)
    table = next(d.value for d in at.dataframe if "answer" in d.value.columns)
    assert list(table["answer"]) == answers  # as text: the markup is in the cell, not rendered
    frame = next(d for d in at.dataframe if "answer" in d.value.columns)
    widths = json.loads(frame.proto.columns)
    assert widths["prompt"]["width"] == widths["answer"]["width"] == "medium"  # the rewards stay in view
    assert list(table["group"]) == [1, 1, 2, 2] and list(table.columns[-2:]) == ["ROUGE-L", "length limit"]
    assert not any("<b>a</b>" in m.value for m in at.markdown)
    # every group scored alike lately: the page says GRPO learns nothing from that, and what to try
    assert any("100% of the groups had every answer scored alike" in i.value for i in at.info)


def _open_run(run_id: int):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / PAGE), default_timeout=60)
    at.query_params["run"] = str(run_id)
    return at.run()


def test_a_cancel_says_how_long_a_step_takes_even_under_a_second():
    assert "a step takes about under a second" not in live.cancelling_note({"seconds_per_step": 0.08})
    assert "(a step takes under a second on this machine)" in live.cancelling_note({"seconds_per_step": 0.08})
    assert "(a step takes about 1 min 05 s on this machine)" in live.cancelling_note({"seconds_per_step": 65.2})


def test_a_cancelled_run_says_its_adapter_so_far_is_kept(page):
    run_id = _finished_run("stopped", [2.0, 1.0])
    registry.update(runs.get_run(run_id)["job_id"], {"status": "cancelled"})
    store.open_db()["runs"].update(run_id, {"adapter_dir": "adapters/stopped"})
    at = _open_run(run_id)
    assert not at.exception
    assert any("the adapter as trained so far is kept in `adapters/stopped`" in i.value for i in at.info)
