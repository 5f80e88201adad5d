"""Models already on this machine: a folder linked in after its checks, a GGUF file converted by a job."""

import json
import shutil

import pytest

from workbench import paths
from workbench.jobs import registry
from workbench.models import demo, local, preparing
from workbench.models.entries import PrepareError
from workbench.models.loading import list_local_models, load_tokenizer, resolve_base


def _model_folder(tmp_path):
    folder = tmp_path / "My-Model_v2"
    shutil.copytree(demo.demo_model_path().resolve(), folder)
    (folder / "manifest.json").unlink()  # a plain Hugging Face folder has none
    return folder


def test_a_model_folder_is_linked_in_without_copying_and_is_offered_as_a_base(tmp_path):
    source = _model_folder(tmp_path)
    added = local.add_folder(source)
    assert added == paths.model_dir("my-model_v2") and resolve_base("my-model_v2") == str(added)
    weights = next(added.glob("*.safetensors"))
    assert weights.is_symlink() and weights.resolve().parent == source  # linked, the original stays put
    manifest = json.loads((added / "manifest.json").read_text())
    assert manifest["source"] == f"local folder {source}" and not (source / "manifest.json").exists()
    assert "my-model_v2" in [m["name"] for m in list_local_models()]
    assert load_tokenizer("my-model_v2") is not None
    with pytest.raises(PrepareError, match="is taken by a model"):
        local.add_folder(source, "my-model_v2")


def test_a_folder_that_cannot_be_trained_on_says_what_it_lacks(tmp_path):
    source = _model_folder(tmp_path)
    for weights in source.glob("*.safetensors"):
        weights.unlink()
    (source / "config.json").unlink()
    with pytest.raises(PrepareError, match=r"no config.json .*; no weights \(\*.safetensors or \*.bin\)"):
        local.add_folder(source)
    with pytest.raises(PrepareError, match="is not a folder"):
        local.add_folder(tmp_path / "missing")
    with pytest.raises(PrepareError, match="name: 'Bad Name'"):
        local.add_folder(_model_folder(tmp_path / "x"), "Bad Name")
    assert not list(paths.models_dir().glob(".*preparing*"))  # nothing half-made left behind


def test_a_gguf_file_is_converted_by_a_prepare_job(fake_wheel, tmp_path, fake_launch):
    gguf = fake_wheel.parent / "tiny.gguf"
    with pytest.raises(PrepareError, match="is not a .gguf file"):
        preparing.start_add_gguf(tmp_path / "model.bin")
    job_id = preparing.start_add_gguf(gguf, "tiny-local")
    job = registry.get(job_id)
    assert (
        registry.args(job) == {"name": "tiny-local", "gguf": str(gguf)}
        and job["title"] == "Add tiny-local from tiny.gguf"
    )
    status, result = preparing.prepare_job(job)  # what its worker runs
    assert status == "completed" and resolve_base("tiny-local") == result["path"]
    assert json.loads((paths.model_dir("tiny-local") / "manifest.json").read_text())["source"] == f"local GGUF {gguf}"
