import os

import pytest

from workbench.fileio import DiskFull, write_json_atomic, write_text_atomic


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
