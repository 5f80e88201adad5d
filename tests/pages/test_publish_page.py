import json

from tests.evaluations import register_copy
from workbench.publish import ollama as publish_ollama
from workbench.publish import records

PAGE = "pages/publish.py"


def test_without_ollama_or_runs_the_page_says_what_to_do(page):
    at = page(PAGE)
    assert not at.exception, at.exception
    assert at.title[0].value == "Publish"
    assert any(
        "Ollama is not running at http://127.0.0.1:9 — start it with `ollama serve`" in w.value for w in at.warning
    )
    assert any("No run has an adapter yet" in i.value for i in at.info)
    assert any("Nothing published yet" in c.value for c in at.caption)


def test_a_run_gets_a_plan_with_an_editable_modelfile(page, trained_run):
    at = page(PAGE)
    assert not at.exception, at.exception
    assert at.text_input(key="publish_name").value == "words-demo"
    modelfile = at.text_area[0].value
    assert modelfile.startswith("FROM ./merged") and 'PARAMETER stop "<|im_end|>"' in modelfile
    assert "TEMPLATE" in modelfile and "PARAMETER num_ctx 1024" in modelfile
    assert any("Route:** merged" in m.value and "chatml" in m.value for m in at.markdown)
    assert at.button(key="publish_go").disabled  # Ollama is not running

    at.text_area[0].set_value("FROM ./merged\nPARAMETER num_ctx 1024\n").run()
    assert any("no TEMPLATE" in e.value for e in at.error)
    at.text_input(key="publish_name").set_value("Not A Name").run()
    assert any("not a valid Ollama model name" in e.value for e in at.error)


def test_connected_ollama_lists_models_and_published_ones_can_be_deleted(page, trained_run, httpserver):
    httpserver.expect_request("/api/version").respond_with_json({"version": "0.13.0"})
    httpserver.expect_request("/api/tags").respond_with_json({"models": [{"model": "llama3.2:latest"}]})
    httpserver.expect_request("/api/delete", method="DELETE").respond_with_data("", status=200)
    host = httpserver.url_for("").rstrip("/")
    spec = publish_ollama.plan(trained_run["id"], "words-bot", host=host, route="merged")
    record = publish_ollama._record(spec, "published", {})
    records.finish(
        record,
        "published",
        {
            "verification": {
                "replayed": 2,
                "agreed": 1,
                "differing": [{"prompt": "Repite: dos", "app": "dos", "ollama": "tres"}],
            }
        },
    )

    at = page(PAGE)
    at.text_input(key="publish_host").set_value(host).run()
    assert not at.exception, at.exception
    assert any("Ollama 0.13.0" in s.value and "llama3.2:latest" in s.value for s in at.success)
    assert not at.button(key="publish_go").disabled
    table = at.dataframe[0].value
    assert list(table["model"]) == ["words-bot"] and list(table["held-out replay identical"]) == ["1/2"]
    assert list(table["quantization"]) == ["none"]
    assert any("1 held-out answer(s) differ" in e.label for e in at.expander)

    at.button(key="publish_delete").click().run()
    assert publish_ollama.list_publishes() == []
    deletes = [r for r, _ in httpserver.log if r.method == "DELETE"]
    assert json.loads(deletes[0].get_data()) == {"model": "words-bot"}


def _wait_for(job_id: int, seconds: float = 240) -> dict:
    import time

    from workbench.jobs import registry

    deadline = time.monotonic() + seconds
    while registry.get(job_id)["status"] in registry.ACTIVE and time.monotonic() < deadline:
        time.sleep(0.5)
    job = registry.get(job_id)
    assert job["status"] not in registry.ACTIVE, "the export did not finish"
    return job


def test_gguf_export_runs_in_the_background_without_ollama_and_is_listed(page, trained_run, converter_dir):
    from pathlib import Path

    at = page(PAGE)
    assert not at.exception, at.exception
    assert not [s for s in at.selectbox if s.key == "gguf_quantize"]  # only the open tab is computed
    at.session_state["publish_tab"] = "GGUF export"
    at.run()
    assert at.selectbox(key="gguf_quantize").value == "q8_0"
    assert not at.warning  # the GGUF tab works without asking Ollama
    folder = next(t for t in at.text_input if t.key.startswith("gguf_out_"))
    assert folder.value.endswith("exports/words-demo/gguf-q8_0")
    at.checkbox(key="gguf_adapter").uncheck()
    at.button(key="gguf_go").click().run()
    job_id = at.session_state["publish_job"]
    assert any(i.value.startswith("Export words-demo as GGUF (q8_0) — running") for i in at.info)
    job = _wait_for(job_id)

    at.run()
    assert any(s.value.startswith(f"Exported to {folder.value}") for s in at.success)
    table = at.dataframe[-1].value
    assert list(table["status"]) == ["exported"], job["error"]
    assert list(table["files"]) == ["words-demo-q8_0.gguf"]
    assert (Path(folder.value) / "Modelfile").is_file()

    at.button(key="gguf_delete").click().run()
    assert not Path(folder.value).exists()
    assert any("No GGUF export yet" in c.value for c in at.caption)

    # A failing export says why on the page, not only in its log.
    occupied = Path(folder.value).parent / "photos"
    occupied.mkdir()
    (occupied / "holiday.jpg").write_bytes(b"\xff\xd8")
    next(t for t in at.text_input if t.key.startswith("gguf_out_")).set_value(str(occupied)).run()
    at.button(key="gguf_go").click().run()
    _wait_for(at.session_state["publish_job"])
    at.run()
    assert any(
        "Export words-demo as GGUF (q8_0) failed:" in e.value and "already holds other files" in e.value
        for e in at.error
    ), [e.value for e in at.error]


def test_k_quants_without_llama_cpp_python_say_what_to_install(page, trained_run, monkeypatch):
    from workbench.publish import gguf

    monkeypatch.setattr(gguf, "has_llama_cpp", lambda: False)
    at = page(PAGE)
    at.session_state["publish_tab"] = "GGUF export"
    at.run()
    at.selectbox(key="gguf_quantize").set_value("q4_K_M").run()
    assert any("q4_K_M needs llama.cpp's quantizer: install llama-cpp-python" in e.value for e in at.error)
    assert not [b for b in at.button if b.key == "gguf_go"]
    assert any("llama-cpp-python is not installed" in c.value for c in at.caption)


def test_exports_where_llama_cpp_answered_differently_show_the_pairs(page, trained_run, tmp_path):
    comparison = {
        "prompts": 2,
        "same_tokenization": 2,
        "same_answers": 1,
        "differing": [
            {
                "prompt": "Repite: dos",
                "same_tokens": True,
                "same_answer": False,
                "transformers": "dos",
                "llama.cpp": "tres",
            }
        ],
    }
    record = records.start(trained_run["id"], "gguf:q4_K_M", str(tmp_path / "export"), "", "running", {})
    records.finish(
        record,
        "exported",
        {"manifest": {"files": {"model": {"name": "words-demo-q4_K_M.gguf"}}, "llama_cpp_comparison": comparison}},
    )
    at = page(PAGE)
    at.session_state["publish_tab"] = "GGUF export"
    at.run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["llama.cpp same answers"]) == ["1/2"] and list(table["status"]) == ["exported"]
    [expander] = [e for e in at.expander if "llama.cpp and transformers differ" in e.label]
    assert expander.label.endswith("1 prompt(s) where llama.cpp and transformers differ")
    assert list(at.dataframe[1].value["llama.cpp"]) == ["tres"]


def _second_run(trained_run) -> int:
    import shutil

    from workbench import paths
    from workbench.training import runs

    copy = paths.adapters_dir() / "copied-adapter"
    shutil.copytree(paths.in_home(trained_run["adapter_dir"]), copy)
    source = runs.get_run(trained_run["id"])
    return runs.register_finished_run("Other.Run", runs.run_config(source), source["dataset_revision_id"], copy)


def test_the_model_name_follows_the_run_until_the_user_types_one(page, trained_run):
    other = _second_run(trained_run)
    at = page(PAGE)
    names = {trained_run["id"]: "words-demo", other: "other.run"}
    first = at.selectbox(key="publish_run").value
    assert at.text_input(key="publish_name").value == names[first]
    second = next(run_id for run_id in names if run_id != first)
    at.selectbox(key="publish_run").set_value(second).run()
    assert at.text_input(key="publish_name").value == names[second]  # followed the run
    at.text_input(key="publish_name").set_value("my-bot").run()
    at.selectbox(key="publish_run").set_value(first).run()
    assert at.text_input(key="publish_name").value == "my-bot"  # typed: kept
    assert at.button(key="publish_go").label == "Publish my-bot"


def test_a_publish_whose_replay_differs_is_a_warning_with_the_pairs(page, trained_run, httpserver):
    from workbench.jobs import registry

    httpserver.expect_request("/api/version").respond_with_json({"version": "0.13.0"})
    httpserver.expect_request("/api/tags").respond_with_json({"models": []})
    host = httpserver.url_for("").rstrip("/")
    spec = publish_ollama.plan(trained_run["id"], "words-bot", host=host, route="merged")
    record = publish_ollama._record(spec, "published", {})
    differing = [{"prompt": f"Repite: {w}", "app": w, "ollama": "?"} for w in ("uno", "dos")]
    records.finish(record, "published", {"verification": {"replayed": 2, "agreed": 0, "differing": differing}})
    job = registry.create("publish", "Publish words-demo to Ollama as words-bot", run_id=trained_run["id"])
    registry.finish(job, "completed", result={"record_id": record, "model": "words-bot", "agreed": 0, "replayed": 2})

    at = page(PAGE)
    at.session_state["publish_job"] = job
    at.text_input(key="publish_host").set_value(host).run()
    assert not at.exception, at.exception
    assert any("Published words-bot, but only 0 of 2 held-out answers are the same" in w.value for w in at.warning)
    assert not [s for s in at.success if "Published words-bot" in s.value]
    assert any(e.label == "2 held-out answer(s) differ from the app" for e in at.expander)


def test_a_run_still_training_is_not_offered_and_cannot_be_published(page, trained_run):
    import os

    import pytest

    from workbench import store
    from workbench.jobs import registry
    from workbench.publish.merge import PublishError, adapter_dir
    from workbench.training import runs

    busy = runs.create_run(runs.run_config(trained_run), name="still-training")
    registry.mark_running(registry.latest(busy, "train")["id"], pid=os.getpid())
    store.open_db()["runs"].update(busy, {"adapter_dir": trained_run["adapter_dir"]})  # as a resumed run has one
    at = page(PAGE)
    assert not at.exception, at.exception
    assert at.selectbox(key="publish_run").options == ["words-demo (completed, demo)"]
    assert any("Still training, so not offered yet: still-training" in c.value for c in at.caption)
    with pytest.raises(PublishError, match="is running: only a finished run's adapter can be published"):
        adapter_dir(runs.get_run(busy))


def test_a_link_with_a_run_opens_it_for_publishing(page, trained_run):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    other = register_copy(trained_run, "words-copy")
    at = page(PAGE)
    assert at.selectbox(key="publish_run").value == other  # the newest first
    assert at.query_params["run"] == str(other)
    linked = AppTest.from_file(str(Path(__file__).resolve().parents[2] / PAGE), default_timeout=60)
    linked.query_params["run"] = str(trained_run["id"])
    linked.run()
    assert not linked.exception and linked.selectbox(key="publish_run").value == trained_run["id"]


def test_the_gguf_tab_says_before_an_export_that_the_converters_must_be_fetched(
    page, trained_run, tmp_path, monkeypatch
):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "empty-cache"))
    at = page(PAGE)
    at.session_state["publish_tab"] = "GGUF export"
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="gguf_quantize")  # the form is there
    assert any("llama.cpp's converters are not on this machine yet" in i.value for i in at.info)
