"""The served app's settings (.streamlit/config.toml): private, and nothing that competes with training."""

import tomllib
from pathlib import Path

CONFIG = tomllib.loads((Path(__file__).resolve().parent.parent / ".streamlit" / "config.toml").read_text())


def test_the_server_listens_on_loopback_and_sends_no_statistics():
    assert CONFIG["server"]["address"] == "127.0.0.1"
    assert CONFIG["browser"]["gatherUsageStats"] is False
    assert CONFIG["server"]["enableXsrfProtection"] is True


def test_the_served_app_watches_no_files_and_skips_the_gc_after_each_rerun():
    # a watcher over the checkout (.venv, the workspace) took a core from training (bench/app_overhead.py)
    assert CONFIG["server"]["fileWatcherType"] == "none"
    assert CONFIG["server"]["runOnSave"] is False
    assert CONFIG["runner"]["postScriptGC"] is False


def test_make_run_serves_with_that_config_and_make_dev_opts_into_reloading():
    makefile = (Path(__file__).resolve().parent.parent / "Makefile").read_text()
    run = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    dev = makefile.split("\ndev:", 1)[1].split("\n\n", 1)[0]
    assert "streamlit run app.py" in run and "fileWatcherType" not in run
    assert "--server.fileWatcherType auto" in dev and "folderWatchBlacklist" in dev
