import os

import pytest

from workbench.fileio import (
    DiskFull,
    finish_interrupted_folder,
    folder_in_place,
    hidden_sibling,
    write_json_atomic,
    write_text_atomic,
)


def test_atomic_write_replaces_the_file_and_leaves_no_temp_behind(tmp_path):
    target = tmp_path / "out" / "notes.txt"
    write_text_atomic(target, "first")
    write_text_atomic(target, "second")
    assert target.read_text() == "second"
    assert [p.name for p in target.parent.iterdir()] == ["notes.txt"]


def test_files_get_the_usual_permissions_not_the_temp_files_0600(tmp_path):
    target = tmp_path / "export.json"
    write_json_atomic(target, {"a": 1})
    mask = os.umask(0o022)
    os.umask(mask)
    assert os.stat(target).st_mode & 0o777 == 0o666 & ~mask


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "out" / "notes.txt"
    write_text_atomic(target, "kept")

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(DiskFull, match=r"Not enough disk space in .* for writing notes.txt"):
        write_text_atomic(target, "lost")
    assert target.read_text() == "kept"
    assert [p.name for p in target.parent.iterdir()] == ["notes.txt"]


def _siblings(folder):
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith("."))


def test_a_folder_written_in_place_replaces_the_old_one_whole(tmp_path):
    target = tmp_path / "adapter"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with folder_in_place(target) as building:
        building.mkdir()
        (building / "new.txt").write_text("new")
        assert not (target / "new.txt").exists()  # nothing shows before the block ends
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert _siblings(target) == []


def test_a_failed_folder_write_leaves_the_old_folder_and_no_sibling(tmp_path):
    target = tmp_path / "adapter"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), folder_in_place(target) as building:
        building.mkdir()
        (building / "half.txt").write_text("half")
        raise RuntimeError("killed mid-write")
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    assert _siblings(target) == []


def test_after_a_killed_folder_write_the_old_folder_comes_back(tmp_path):
    target = tmp_path / "adapter"
    old = hidden_sibling(target, "old")  # killed between moving the old folder aside and renaming the new one
    old.mkdir()
    (old / "old.txt").write_text("old")
    hidden_sibling(target, "building").mkdir()
    done = finish_interrupted_folder(target)
    assert (target / "old.txt").read_text() == "old"
    assert _siblings(target) == [] and len(done) == 2
