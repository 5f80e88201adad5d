import time

from workbench.training import runs

PAGE = "pages/train.py"


def _set(at, field, value):
    widget = next(w for w in [*at.number_input, *at.text_input, *at.checkbox, *at.selectbox]
                  if w.key == f"tc_{field}")
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
