

def test_app_shows_navigation_and_sidebar_status(page):
    at = page("app.py")
    assert not at.exception
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "Device:" in sidebar and "CPU" in sidebar
    assert "Ollama not reachable at http://127.0.0.1:9" in sidebar
    assert "ollama serve" in sidebar
    assert "No runs in progress" in sidebar
    assert at.title[0].value == "Datasets"  # the default page


def test_sidebar_counts_runs_in_progress(page):
    from workbench import store

    store.open_db()["runs"].insert({"name": "r1", "status": "running", "base_model": "demo", "created": store.now()})
    at = page("app.py")
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "Runs in progress:** 1" in sidebar
    assert any("r1 — running" in c.value for c in at.sidebar.caption)
