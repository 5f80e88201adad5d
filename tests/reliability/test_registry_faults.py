"""A locked registry waits then says so; a damaged one is reported with the way out, and rebuilt from disk."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workbench import recovery, store
from workbench.data import repository
from workbench.training import runs

ROOT = Path(__file__).resolve().parents[2]


def _truncate(path, size=8192):
    """Cut workbench.db short, as a crash of the disk or a bad copy would (all of it written back first)."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert path.stat().st_size > 2 * size
    os.truncate(path, size)
    for suffix in ("-wal", "-shm"):
        (path.parent / f"{path.name}{suffix}").unlink(missing_ok=True)


def _hold_lock(db_path, seconds: float) -> subprocess.Popen:
    """Another process that takes the registry's write lock and keeps it for `seconds`."""
    code = (
        "import sqlite3, sys, time\n"
        f"c = sqlite3.connect({str(db_path)!r}, isolation_level=None)\n"
        "c.execute('BEGIN IMMEDIATE')\n"
        "print('locked', flush=True)\n"
        f"time.sleep({seconds})\n"
        "c.execute('ROLLBACK')\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_a_truncated_registry_is_reported_without_a_traceback_and_data_is_untouched(user_data, cli, snapshot):
    before = snapshot(user_data)
    _truncate(user_data / "workbench.db")
    for args in (("datasets", "list"), ("runs", "list"), ("datasets", "split", "faq", "--count", "2")):
        done = cli(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        assert "is damaged" in done.stderr and "python -m workbench registry rebuild" in done.stderr
    assert snapshot(user_data) == before


def test_rebuild_brings_back_datasets_revisions_notes_splits_and_runs_with_metrics(user_data, trained_run, cli):
    metrics = len(runs.run_metrics(trained_run["id"], ("loss",)))
    assert metrics > 0
    _truncate(user_data / "workbench.db")
    assert cli("registry", "check").returncode == 1
    done = cli("registry", "rebuild")
    assert done.returncode == 0, done.stderr
    assert "3 dataset(s) with 4 revision(s), 1 run(s)" in done.stdout
    kept = list(user_data.glob("workbench.db.damaged-*[0-9]"))  # with its -wal and -shm beside it
    assert len(kept) == 1 and kept[0].stat().st_size == 8192  # the damaged file, set aside as it was

    assert [(r.n, r.note) for r in repository.revisions("faq")] == [(2, "one more"), (1, "first import")]
    split = repository.get_revision("faq", 2).split
    assert split is not None and split.spec.seed == 3 and len(split.validation) == 3
    assert len(repository.load_rows("faq")) == 13
    run = runs.get_run("words-demo")
    assert run["status"] == "completed" and run["adapter_dir"] == trained_run["adapter_dir"]
    assert len(runs.run_metrics(run["id"], ("loss",))) == metrics
    assert cli("registry", "check").returncode == 0


def test_a_sound_registry_is_not_rebuilt_without_force(user_data, cli):
    done = cli("registry", "rebuild")
    assert done.returncode == 1 and "nothing to rebuild" in done.stdout
    assert not list(user_data.glob("workbench.db.damaged-*"))


def test_a_write_waits_out_a_10_second_lock_then_succeeds(user_data, cli, tmp_path):
    source = tmp_path / "more.jsonl"
    source.write_text('{"instruction": "q", "input": "", "output": "a"}\n')
    holder = _hold_lock(user_data / "workbench.db", 10)
    started = time.monotonic()
    done = cli("datasets", "import", str(source), "--name", "more", "--no-split")
    waited = time.monotonic() - started
    holder.wait(timeout=30)
    assert done.returncode == 0, done.stderr
    assert waited >= 8, f"the import did not wait for the lock ({waited:.1f} s)"
    assert repository.load_rows("more") == [{"instruction": "q", "input": "", "output": "a"}]


def test_a_lock_held_past_the_timeout_is_a_clear_message_and_changes_nothing(user_data, cli, snapshot, tmp_path):
    source = tmp_path / "more.jsonl"
    source.write_text('{"instruction": "q", "input": "", "output": "a"}\n')
    before = snapshot(user_data)
    holder = _hold_lock(user_data / "workbench.db", 8)
    done = cli("datasets", "import", str(source), "--name", "faq", "--no-split", env={"WORKBENCH_DB_TIMEOUT": "2"})
    holder.wait(timeout=30)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "stayed locked by another process for 2 s" in done.stderr and "Nothing was changed" in done.stderr
    assert snapshot(user_data) == before
    assert repository.get_dataset("faq").latest.n == 2


def test_registry_problem_finds_damage_inside_a_file_that_still_opens(user_data):
    path = user_data / "workbench.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with open(path, "r+b") as handle:  # keep the header, scribble over the pages after it
        handle.seek(4096)
        handle.write(b"\xff" * 8192)
    problem = recovery.registry_problem()
    assert isinstance(problem, store.RegistryDamaged)


@pytest.mark.parametrize("error", ["database is locked", "database disk image is malformed"])
def test_only_locks_and_damage_count_as_registry_faults(error):
    assert store.is_registry_fault(sqlite3.OperationalError(error))
    assert not store.is_registry_fault(sqlite3.IntegrityError("UNIQUE constraint failed: runs.name"))


def test_the_app_shows_a_damaged_registry_and_rebuilds_it_with_one_click(user_data, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")
    _truncate(user_data / "workbench.db")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    assert "is damaged" in at.error[0].value
    at.button(key="registry_rebuild").click().run()
    assert not at.exception, at.exception
    assert "Rebuilt from disk: 2 dataset(s) with 3 revision(s)" in at.success[0].value
    assert [r.n for r in repository.revisions("faq")] == [2, 1]
    assert not at.error
