def test_app_shows_navigation_and_sidebar_status(page):
    at = page("app.py")
    assert not at.exception
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "Device:" in sidebar and "CPU" in sidebar
    assert "Ollama not reachable at http://127.0.0.1:9" in sidebar
    assert "ollama serve" in sidebar
    assert "No jobs in progress" in sidebar
    assert at.title[0].value == "LoRA Workbench"  # the start page is the default


def test_the_sidebar_lists_every_job_with_what_it_waits_for_and_cancel(page, fake_launch):
    from workbench.jobs import queue, registry

    training = registry.create("train", "Train r1", run_id=1)
    queue.schedule()  # the run starts; the jobs queued after it wait (a queued evaluation would go first)
    evaluation = registry.create("evaluate", "Evaluate r0 (3 validation rows)", run_id=2)
    export = registry.create("export", "Export r0 as GGUF (q8_0)", run_id=2)
    queue.schedule()
    registry.set_progress(training, {"phase": "training", "done": 4, "total": 10, "unit": "steps"})
    at = page("app.py")
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "Jobs in progress:** 3" in sidebar
    captions = [c.value for c in at.sidebar.caption]
    assert "• Train r1 — running, 4/10 steps" in captions
    assert any(
        c.startswith("• Evaluate r0 (3 validation rows) — queued: waits for “Train r1” (running)") for c in captions
    )
    assert any(c.startswith("• Export r0 as GGUF (q8_0) — queued: waits for “Train r1”") for c in captions)

    # The sidebar alone: under app.py's st.navigation, AppTest drops the sidebar on the run after a click.
    from streamlit.testing.v1 import AppTest

    sidebar_only = AppTest.from_string(
        "from ui.sidebar import render_sidebar\nrender_sidebar()", default_timeout=60
    ).run()
    cancel = sidebar_only.sidebar.button(key=f"sidebar_cancel_{evaluation}")
    assert cancel.label == "Cancel" and cancel.icon == ":material/close:"  # a word: a lone × was cut to "›"
    cancel.click().run()
    assert registry.get(evaluation)["status"] == "cancelled"
    sidebar_only.sidebar.button(key=f"sidebar_cancel_{training}").click().run()
    assert registry.get(training)["status"] == "cancelling"
    assert not [b for b in sidebar_only.sidebar.button if b.key == f"sidebar_cancel_{training}"]  # asked already
    assert registry.get(export)["status"] == "queued"
