"""Building a prepared model: stage progress and disk-space messages that say what to do."""

import errno
import shutil
from pathlib import Path

import pytest

from workbench.models import building
from workbench.models.entries import CatalogEntry, PrepareError


def _entry() -> CatalogEntry:
    return CatalogEntry("acme-1b", "ACME 1B", 1_000_000_000, "proprietary", 4_000, "chatml", "all-linear", "", [])


def test_progress_spans_the_stages_in_order():
    seen = []
    report = building.reporter(lambda message, fraction: seen.append((message, fraction)))
    for stage in building.STAGES:
        report(stage, "half way", 0.5)
    report("convert", "unknown share", None)
    fractions = [f for _, f in seen if f is not None]
    assert fractions == sorted(fractions) and len(fractions) == len(building.STAGES)
    assert seen[0][0] == "download: half way" and seen[-1] == ("convert: unknown share", None)
    assert building.reporter(None)("save", "nobody listens", 1.0) is None


def test_a_full_disk_names_the_model_and_its_size():
    full = OSError(errno.ENOSPC, "No space left on device")
    message = str(building.os_error("converting the model", full, Path("/m"), _entry()))
    assert "The disk is full while converting the model (/m)" in message
    assert "acme-1b takes about 4,000 MB once prepared" in message and "finished steps are kept" in message
    other = str(building.os_error("saving", PermissionError(errno.EACCES, "denied"), Path("/m")))
    assert "Check the permissions of /m" in other


def test_need_space_says_how_much_is_needed_and_free(tmp_path, monkeypatch):
    usage = shutil.disk_usage(tmp_path)
    building.need_space(tmp_path, 1024, "a small step")  # room enough: nothing raised
    monkeypatch.setattr(building.shutil, "disk_usage", lambda folder: usage._replace(free=10 * 1024 * 1024))
    with pytest.raises(PrepareError, match=r"The disk is full: downloading needs about \d+ MB in .*, only 10 MB"):
        building.need_space(tmp_path, 100 * 1024 * 1024, "downloading")
