import json
import os

import pytest

from workbench import paths, store
from workbench.data import repository
from workbench.data.split import SplitSpec

ROWS = [
    {"instruction": "Say hi", "input": "", "output": "hi"},
    {"instruction": "Say bye", "input": "", "output": "bye"},
    {"instruction": "Count", "input": "1 2", "output": "3"},
]


def test_create_writes_file_history_and_revision():
    revision = repository.create_dataset("greet", "alpaca", ROWS)
    assert revision.n == 1 and revision.rows == 3
    assert repository.current_path("greet").read_text(encoding="utf-8").count("\n") == 3
    assert (paths.home() / revision.path).is_file()
    assert repository.load_rows("greet") == ROWS
    info = repository.get_dataset("greet")
    assert info.format == "alpaca" and info.latest.sha256 == revision.sha256


def test_save_makes_new_revision_and_keeps_old_ones():
    repository.create_dataset("greet", "alpaca", ROWS)
    edited = ROWS + [{"instruction": "New", "input": "", "output": "row"}]
    revision = repository.save_rows("greet", edited, base_revision=1, note="added one")
    assert revision.n == 2
    assert repository.load_rows("greet") == edited
    assert repository.load_rows("greet", 1) == ROWS
    assert [r.n for r in repository.revisions("greet")] == [2, 1]
    assert repository.revisions("greet")[0].note == "added one"


def test_save_from_a_stale_revision_is_refused_and_changes_nothing():
    repository.create_dataset("greet", "alpaca", ROWS)
    repository.save_rows("greet", ROWS[:2], base_revision=1)  # another tab saved revision 2
    before = repository.current_path("greet").read_bytes()
    with pytest.raises(repository.RevisionConflict, match="saved elsewhere \\(revision 2\\).*revision 1"):
        repository.save_rows("greet", ROWS[:1], base_revision=1)
    assert repository.current_path("greet").read_bytes() == before
    assert [r.n for r in repository.revisions("greet")] == [2, 1]


def test_a_crash_while_writing_leaves_the_previous_revision(monkeypatch):
    repository.create_dataset("greet", "alpaca", ROWS)
    before = repository.current_path("greet").read_bytes()

    def crash(src, dst):
        raise OSError("disk full")

    with monkeypatch.context() as patched:
        patched.setattr(os, "replace", crash)
        with pytest.raises(OSError, match="disk full"):
            repository.save_rows("greet", ROWS[:1], base_revision=1)
    assert repository.current_path("greet").read_bytes() == before
    assert repository.get_dataset("greet").latest.n == 1
    assert repository.load_rows("greet") == ROWS
    leftovers = [p.name for p in paths.datasets_dir().rglob("*.tmp")]
    assert leftovers == []


def test_restore_creates_a_new_revision_with_the_old_rows_and_split():
    repository.create_dataset("greet", "alpaca", ROWS)
    repository.make_split("greet", 1, SplitSpec(seed=1, validation_count=1, validation_ratio=None))
    repository.save_rows("greet", ROWS[:1], base_revision=1)
    restored = repository.restore_revision("greet", 1, base_revision=2)
    assert restored.n == 3
    assert repository.load_rows("greet") == ROWS
    assert repository.get_revision("greet", 3).split.validation == repository.get_revision("greet", 1).split.validation
    assert repository.revisions("greet")[0].note == "restored revision 1"


def test_diff_reports_added_removed_and_changed_rows():
    repository.create_dataset("greet", "alpaca", ROWS)
    changed = [
        ROWS[0],
        {"instruction": "Say bye", "input": "", "output": "goodbye"},
        {"instruction": "Extra", "input": "", "output": "x"},
        ROWS[2],
    ]
    repository.save_rows("greet", changed, base_revision=1)
    diff = repository.diff_revisions("greet", 1, 2)
    assert diff.changed == [(1, 1)]
    assert diff.added == [2]
    assert diff.removed == []
    assert repository.diff_revisions("greet", 1, 1).unchanged


def test_split_is_stored_with_the_revision():
    repository.create_dataset("greet", "alpaca", ROWS * 4)
    split = repository.make_split("greet", 1, SplitSpec(seed=7, validation_ratio=0.25))
    stored = repository.get_revision("greet", 1).split
    assert stored.validation == split.validation and len(stored.validation) == 3
    assert sorted(stored.train + stored.validation) == list(range(12))


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("", "The dataset needs a name: 1-64 letters"),  # not "'' is not a valid dataset name"
        ("  ", "The dataset needs a name: 1-64 letters"),
        ("has space", "not a valid dataset name: use 1-64 letters"),
        ("../escape", "not a valid dataset name: use 1-64 letters"),
        ("-dash-first", "not a valid dataset name: use 1-64 letters"),
        ("x" * 65, "not a valid dataset name: use 1-64 letters"),
    ],
)
def test_bad_names_are_refused_with_the_rule(name, said):
    with pytest.raises(repository.DatasetError, match=said):
        repository.create_dataset(name, "alpaca", ROWS)
    assert repository.dataset_names() == []


def test_duplicate_name_and_unknown_dataset_errors_say_what_to_do():
    repository.create_dataset("greet", "alpaca", ROWS)
    with pytest.raises(repository.DatasetError, match="already exists: pick another name"):
        repository.create_dataset("greet", "chat", [])
    with pytest.raises(repository.DatasetError, match="No dataset named 'nope' \\(known: greet\\)"):
        repository.load_rows("nope")


def test_delete_removes_files_and_rows():
    repository.create_dataset("greet", "alpaca", ROWS)
    repository.delete_dataset("greet")
    assert repository.dataset_names() == []
    assert not repository.current_path("greet").exists()


def test_samples_are_registered_once_with_a_validation_split():
    added = repository.ensure_samples()
    assert "informes-proyectos" in added
    assert repository.ensure_samples() == []
    revision = repository.get_revision("informes-proyectos")
    assert revision.rows >= 150
    assert revision.split is not None and len(revision.split.validation) == round(revision.rows * 0.1)
    first = repository.load_rows("informes-proyectos")[0]
    assert set(first) == {"instruction", "input", "output"}
    json.loads(first["output"])


def test_registry_uses_wal_and_records_schema_version():
    db = store.open_db()
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION
    assert {"datasets", "revisions", "runs", "metrics", "evals", "publishes"} <= set(db.table_names())
    assert paths.db_path().parent == paths.home()


def test_registering_the_samples_twice_at_once_is_harmless(monkeypatch):
    """Two first starts at the same moment (the app and a CLI command): the second finds the sample registered
    between its look and its write, and goes on instead of failing about a dataset the user never named."""
    real = repository.dataset_names
    looks = []

    def stale_first_look():
        looks.append(1)
        return [] if len(looks) == 1 else real()

    repository.ensure_samples()
    monkeypatch.setattr(repository, "dataset_names", stale_first_look)
    assert repository.ensure_samples() == []
    assert repository.sample_names() == ["informes-proyectos"] and real() == ["informes-proyectos"]


def test_two_commands_started_together_on_a_fresh_workspace_both_succeed(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    for attempt in range(3):
        home = tmp_path / f"home-{attempt}"
        env = {**os.environ, "WORKBENCH_HOME": str(home), "HF_HUB_OFFLINE": "1"}
        both = [
            subprocess.Popen(
                [sys.executable, "-m", "workbench", "datasets", "list"],
                cwd=root,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        results = [(p.wait(timeout=120), p.stderr.read()) for p in both]
        assert all(code == 0 for code, _ in results), results
