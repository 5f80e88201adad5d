"""A full disk (a size-limited tmpfs as WORKBENCH_HOME) while saving a dataset, a checkpoint, the adapter
and a merged model: a message naming the space needed, the previous state intact, nothing half-written.
(GGUF exports check their space before writing: tests/workbench/publish/test_gguf_export.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from workbench import cli as workbench_cli
from workbench import paths
from workbench.data import repository
from workbench.fileio import DiskFull

DISK_MB = 24
# What another program leaves free: room for the registry's small writes, not for a 470 KB checkpoint or a
# 300 KB adapter of the demo model. (With no room at all the registry cannot record the failure either:
# the job then reads as interrupted once its worker has exited.)
ROOM = 200 * 1024


def _mount_tmpfs(folder: Path, megabytes: int) -> bool:
    folder.mkdir(parents=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(folder)], capture_output=True, text=True
    )
    return done.returncode == 0


@pytest.fixture
def small_disk(tmp_path, monkeypatch, demo_model_dir):
    """WORKBENCH_HOME on a 24 MB tmpfs (needs root, or CAP_SYS_ADMIN, to mount: skipped otherwise)."""
    home = tmp_path / "small"
    if not _mount_tmpfs(home, DISK_MB):
        pytest.skip("cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN) to make a disk that fills up")
    try:
        monkeypatch.setenv("WORKBENCH_HOME", str(home))
        (home / "models").mkdir()
        (home / "models" / "demo").symlink_to(demo_model_dir, target_is_directory=True)
        yield home
    finally:
        subprocess.run(["umount", "-l", str(home)], check=False)


def fill(home: Path, leave: int) -> Path:
    """Take all but `leave` bytes of the disk, as another program would."""
    filler = home / f"filler-{uuid.uuid4().hex[:6]}"
    free = os.statvfs(home).f_bavail * os.statvfs(home).f_frsize
    with filler.open("wb") as handle:
        handle.write(b"\0" * max(0, free - leave))
    return filler


def _files(home: Path) -> dict[str, int]:
    """The stored datasets' files (the registry's own file may grow as SQLite checkpoints its log)."""
    return {p.relative_to(home).as_posix(): p.stat().st_size for p in (home / "datasets").rglob("*") if p.is_file()}


def test_a_dataset_save_on_a_full_disk_says_what_it_needs_and_keeps_the_old_revision(small_disk, capsys, tmp_path):
    rows = [{"instruction": f"q{i}", "input": "", "output": "a"} for i in range(10)]
    repository.create_dataset("faq", "alpaca", rows)
    filler = fill(small_disk, 64 * 1024)
    before = _files(small_disk)
    big = [{"instruction": f"q{i}", "input": "", "output": "x" * 1000} for i in range(1000)]
    with pytest.raises(DiskFull, match=r"needs about 1\.\d MB, 0\.\d MB free"):
        repository.save_rows("faq", big, 1)
    assert repository.load_rows("faq") == rows and repository.get_dataset("faq").latest.n == 1
    assert _files(small_disk) == before  # no temp file, no partial revision

    source = tmp_path / "big.jsonl"
    source.write_text("".join(json.dumps({"instruction": f"q{i}", "output": "y" * 1000}) + "\n" for i in range(1000)))
    assert workbench_cli.main(["datasets", "import", str(source), "--name", "faq", "--no-split"]) == 2
    err = capsys.readouterr().err
    assert "Not enough disk space in" in err and "Traceback" not in err
    assert repository.load_rows("faq") == rows
    filler.unlink()
    assert repository.save_rows("faq", big, 1).n == 2  # with space again, the same save works


def _tiny_run(tiny_demo_run, **changes):
    from workbench.data.split import SplitSpec
    from workbench.training import runs
    from workbench.training.config import TrainConfig

    words = ("uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho")
    repository.create_dataset(
        "words", "alpaca", [{"instruction": f"Repite: {w}", "input": "", "output": w} for w in words]
    )
    repository.make_split("words", 1, SplitSpec(seed=1, validation_count=2))
    return runs.create_run(TrainConfig(**{**tiny_demo_run, "max_steps": 8, "save_steps": 4, **changes}), name="full")


def _filler_callback(home: Path, when: str, step: int = 0):
    from transformers import TrainerCallback

    class FillTheDisk(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if when == "step" and state.global_step == step:
                fill(home, ROOM)

        def on_train_end(self, args, state, control, **kwargs):
            if when == "end":
                fill(home, ROOM)

    return FillTheDisk()


def test_a_run_that_cannot_fit_is_refused_before_it_trains(small_disk, tiny_demo_run):
    from workbench.training import runs
    from workbench.training.worker import run_training

    run_id = _tiny_run(tiny_demo_run)
    fill(small_disk, 512 * 1024)
    assert run_training(run_id, schedule_next=False) == "failed"
    error = runs.get_run(run_id)["error"]
    assert "Not enough disk space in" in error and "this run's checkpoints and adapter" in error, error
    assert not list(paths.checkpoints_dir("full").glob("checkpoint-*"))


def test_the_disk_filling_up_at_a_checkpoint_keeps_the_complete_ones_and_resumes(small_disk, tiny_demo_run):
    from workbench.training import runs
    from workbench.training.worker import run_training

    run_id = _tiny_run(tiny_demo_run)
    callback = _filler_callback(small_disk, "step", 6)  # after checkpoint-4, before checkpoint-8
    assert run_training(run_id, extra_callbacks=[callback], schedule_next=False) == "failed"
    error = runs.get_run(run_id)["error"]
    assert "Not enough disk space" in error and "writing a checkpoint" in error and "resume" in error, error
    kept = sorted(p.name for p in paths.checkpoints_dir("full").glob("checkpoint-*"))
    assert kept == ["checkpoint-4"], kept  # the half-written checkpoint-8 is gone, checkpoint-4 is whole
    assert runs.latest_checkpoint("full").name == "checkpoint-4"
    for filler in small_disk.glob("filler-*"):
        filler.unlink()
    assert run_training(run_id, resume=True, schedule_next=False) == "completed"


def test_the_disk_filling_up_while_the_adapter_is_written_leaves_no_half_adapter(small_disk, tiny_demo_run):
    from workbench.training import runs
    from workbench.training.worker import run_training

    run_id = _tiny_run(tiny_demo_run)
    assert run_training(run_id, extra_callbacks=[_filler_callback(small_disk, "end")], schedule_next=False) == "failed"
    error = runs.get_run(run_id)["error"]
    assert "Not enough disk space" in error and "writing the adapter" in error, error
    assert not paths.adapter_dir("full").exists() and not list(paths.adapters_dir().glob(".full.*"))
    assert runs.latest_checkpoint("full").name == "checkpoint-8"  # resumable: nothing to train again


def test_a_merge_on_a_full_disk_is_refused_with_the_space_it_needs(small_disk, tiny_demo_run):
    from workbench.publish.merge import merge_run
    from workbench.training.worker import run_training

    run_id = _tiny_run(tiny_demo_run)
    assert run_training(run_id, schedule_next=False) == "completed"
    fill(small_disk, 256 * 1024)
    with pytest.raises(DiskFull, match="the merged model .*needs about"):
        merge_run(run_id)
    assert not [p for p in (small_disk / "exports").rglob("*") if p.is_file()]  # nothing half-written


def test_a_gguf_export_on_a_full_disk_is_refused_before_it_writes(small_disk, tiny_demo_run, converter_dir):
    from workbench.publish import gguf
    from workbench.publish.merge import PublishError
    from workbench.training.worker import run_training

    run_id = _tiny_run(tiny_demo_run)
    assert run_training(run_id, schedule_next=False) == "completed"
    fill(small_disk, 256 * 1024)
    with pytest.raises(PublishError, match=r"Not enough disk space for the export .* needs about"):
        gguf.export_gguf(gguf.GGUFExport(run_id, quantize="q8_0", compare=0))
    assert not [p for p in (small_disk / "exports").rglob("*") if p.is_file()]
