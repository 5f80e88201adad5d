"""Where things live: every folder under WORKBENCH_HOME, stored paths made absolute and back."""

from pathlib import Path

from workbench import paths


def test_every_folder_lives_under_the_workspace(workbench_home):
    home = paths.home()
    assert home == workbench_home.resolve()
    assert paths.run_dir("r") == home / "runs" / "r" and paths.checkpoints_dir("r") == home / "runs/r/checkpoints"
    assert paths.adapter_dir("r") == home / "adapters" / "r" and paths.exports_dir("r") == home / "exports" / "r"
    assert paths.model_dir("m") == home / "models" / "m" and paths.custom_catalog_path() == home / "catalog.json"
    assert paths.wheels_cache_dir().is_dir() and paths.gguf_cache_dir().parent == paths.cache_dir()
    assert paths.prepare_log("m") == home / "cache" / "prepare-m.log"


def test_stored_paths_are_relative_to_the_workspace_where_they_can_be(tmp_path):
    inside = paths.adapter_dir("r")
    assert paths.relative_to_home(inside) == "adapters/r"
    assert paths.in_home("adapters/r") == inside
    outside = tmp_path / "elsewhere"
    assert paths.relative_to_home(outside) == str(outside.resolve()) and paths.in_home(str(outside)) == outside


def test_the_converter_cache_is_shared_and_can_be_moved(monkeypatch, tmp_path):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "c"))
    assert paths.converter_cache_root() == tmp_path / "c"
    monkeypatch.delenv("WORKBENCH_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert paths.converter_cache_root() == Path(tmp_path / "xdg" / "lora-workbench")
