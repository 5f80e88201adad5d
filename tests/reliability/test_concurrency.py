"""Two tabs saving one dataset, two resumes of one run at once: one wins, the other is told, nothing is lost
and no run trains twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from workbench.data import repository

ROOT = Path(__file__).resolve().parents[2]


def _tab(monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "pages" / "datasets.py"), default_timeout=60).run()
    at.selectbox(key="ds_selected").set_value("faq").run()
    return at


def test_two_tabs_saving_the_same_dataset(user_data, monkeypatch):
    first, second = _tab(monkeypatch), _tab(monkeypatch)
    for tab in (first, second):
        tab.button(key="ds_add_row").click().run()
    first.button(key="ds_save").click().run()
    second.button(key="ds_save").click().run()
    assert not first.exception and not second.exception
    assert any("saved elsewhere (revision 3)" in e.value for e in second.error)
    assert repository.get_dataset("faq").latest.n == 3 and len(repository.load_rows("faq")) == 14  # the first's
    second.button(key="ds_conflict_save_as").click().run()  # the second keeps its rows under a new name
    assert len(repository.load_rows("faq-copy")) == 14


def _cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "workbench", *args],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_resumes_of_one_run_at_once_train_it_once(workbench_home, tiny_demo_run):
    from workbench import paths
    from workbench.data.split import SplitSpec
    from workbench.jobs import registry
    from workbench.training import runs
    from workbench.training.config import TrainConfig

    words = ("uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho")
    repository.create_dataset(
        "words", "alpaca", [{"instruction": f"Repite: {w}", "input": "", "output": w} for w in words]
    )
    repository.make_split("words", 1, SplitSpec(seed=1, validation_count=2))
    run_id = runs.start_run(TrainConfig(**{**tiny_demo_run, "max_steps": 30, "save_steps": 5}), name="twice")
    deadline = time.monotonic() + 60
    while runs.latest_checkpoint("twice") is None:
        assert time.monotonic() < deadline, "no checkpoint was written"
        time.sleep(0.05)
    os.kill(registry.get(runs.get_run(run_id)["job_id"])["pid"], signal.SIGKILL)
    while runs.get_run(run_id)["status"] != "interrupted":
        runs.mark_interrupted()
        time.sleep(0.05)
    log = paths.run_dir("twice") / runs.LOG_FILE
    attempts_before = log.read_text().count("=== Run twice")

    both = [_cli("runs", "resume", "twice"), _cli("runs", "resume", "twice")]
    results = [(p.wait(timeout=60), *p.communicate()) for p in both]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, _, err in results if code == 2)
    assert "nothing was started twice" in refused or "only interrupted, failed or cancelled" in refused, refused

    final = runs.wait_for(run_id, poll=0.2, timeout=180)
    assert final["status"] == "completed", final["error"]
    assert log.read_text().count("=== Run twice") == attempts_before + 1  # one more attempt, not two
    steps = [row["step"] for row in runs.run_metrics(run_id, ("loss",))]
    assert steps == list(range(1, 31))


def test_a_job_already_queued_or_running_is_never_queued_again(workbench_home):
    """The check the resume race comes down to: what resume_run saw as interrupted may be queued by now."""
    import pytest

    from workbench.jobs import registry

    job_id = registry.create("export", "Export x")
    with pytest.raises(registry.JobError, match="already queued: nothing was started twice"):
        registry.requeue(job_id)
    registry.mark_running(job_id, pid=os.getpid())
    with pytest.raises(registry.JobError, match="already running"):
        registry.requeue(job_id)
    registry.finish(job_id, "failed")
    registry.requeue(job_id)
    assert registry.get(job_id)["status"] == "queued"
