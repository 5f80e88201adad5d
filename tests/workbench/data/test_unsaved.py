"""Unsaved dataset edits kept on disk: written, read back onto the revision they started from, removed."""

import json

from workbench import paths
from workbench.data import repository, unsaved

ROWS = [{"instruction": f"q{i}", "input": "", "output": f"a{i}"} for i in range(3)]


def test_edits_are_kept_read_back_and_dropped(workbench_home):
    repository.create_dataset("faq", "alpaca", ROWS)
    assert unsaved.read("faq") is None
    edited = [*ROWS, {"instruction": "new", "input": "", "output": "row"}]
    unsaved.keep("faq", 1, edited)
    kept = unsaved.read("faq")
    assert kept is not None and kept.base == 1 and kept.rows == edited and kept.kept
    assert repository.load_rows("faq") == ROWS  # the dataset itself is untouched
    unsaved.drop("faq")
    assert unsaved.read("faq") is None and not paths.dataset_unsaved("faq").exists()


def test_edits_of_another_dataset_of_the_same_name_or_a_broken_file_are_not_read(workbench_home):
    repository.create_dataset("faq", "alpaca", ROWS)
    unsaved.keep("faq", 1, ROWS[:1])
    repository.delete_dataset("faq")  # its kept edits go with it
    assert not paths.dataset_unsaved("faq").exists()
    repository.create_dataset("faq", "alpaca", ROWS[1:])
    unsaved.keep("faq", 1, ROWS[:1])
    record = paths.dataset_unsaved("faq")
    other = json.loads(record.read_text())
    record.write_text(json.dumps({**other, "base_sha256": "0" * 64}))
    assert unsaved.read("faq") is None  # not this revision's content
    record.write_text("{not json")
    assert unsaved.read("faq") is None
    assert repository.load_rows("faq") == ROWS[1:]
