"""Model preparation as a job: queued once, its progress in the job, its steps in the log."""

from workbench.jobs import registry
from workbench.models import catalog, preparing


def test_a_preparation_is_one_job_however_often_it_is_asked(fake_launch):
    first = preparing.start_prepare("smollm2-135m-instruct")
    assert preparing.start_prepare("HuggingFaceTB/SmolLM2-135M-Instruct") == first  # the same model
    assert [job_id for job_id, _ in fake_launch] == [first]
    job = registry.get(first)
    assert (
        job["kind"] == "prepare"
        and job["status"] == "running"
        and job["log"] == "cache/prepare-smollm2-135m-instruct.log"
    )
    assert preparing.active_preparation("smollm2-135m-instruct")["id"] == first
    assert preparing.active_preparation("demo") is None


def test_the_job_reports_progress_and_prints_each_step_once(monkeypatch, capsys):
    def fake_prepare(name, progress):
        for message, fraction in (("download: wheel", 0.2), ("download: wheel", 0.2), ("save: done", 1.0)):
            progress(message, fraction)
        return catalog.model_dir(name)

    monkeypatch.setattr(catalog, "prepare", fake_prepare)
    job_id = registry.create("prepare", "Prepare demo", args={"name": "demo"})
    status, result = preparing.prepare_job(registry.get(job_id))
    assert status == "completed" and result["path"].endswith("models/demo")
    assert registry.progress(registry.get(job_id))["done"] == 100
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["[ 20%] download: wheel", "[100%] save: done"] and "ready at" in lines[-1]
