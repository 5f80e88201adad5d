"""Bringing in an adapter trained elsewhere: a plain PEFT adapter (made here) becomes an imported run that is
evaluated, compared and publishable; links are copied, not kept; every refusal names the file and changes
nothing; a copy cut short leaves no adapter and no run."""

from __future__ import annotations

import errno
import json
import shutil
import warnings
from pathlib import Path

import pytest
import torch

from workbench import paths
from workbench.cli import main
from workbench.data import repository
from workbench.data.split import SplitSpec
from workbench.evaluation import jobs as eval_jobs
from workbench.evaluation import results as eval_results
from workbench.jobs import registry
from workbench.jobs import worker as job_worker
from workbench.publish import merge
from workbench.training import imported, runs
from workbench.training.imported import ImportAdapterError, ImportRequest, import_adapter

LOG = [
    {"step": 1, "epoch": 0.5, "loss": 2.0, "learning_rate": 1e-4},
    {"step": 2, "epoch": 1.0, "loss": 1.5},
    {"step": 2, "epoch": 1.0, "eval_loss": 1.7},
]


def peft_adapter(base_dir: Path, folder: Path) -> Path:
    """An adapter saved by plain PEFT (as TRL, Axolotl or Unsloth save one), with a trainer's history."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        get_peft_model(model, config).save_pretrained(folder)
    (folder / "trainer_state.json").write_text(json.dumps({"log_history": LOG}))
    (folder / "training_args.bin").write_bytes(b"a pickle that never comes along")
    return folder


@pytest.fixture
def words():
    rows = [{"instruction": f"Repite: {w}", "input": "", "output": w} for w in ("uno", "dos", "tres", "cuatro")]
    repository.create_dataset("words", "alpaca", rows)
    repository.make_split("words", 1, SplitSpec(seed=1, validation_ratio=None, validation_count=2))
    return "words"


@pytest.fixture
def adapter(demo_model_dir, tmp_path) -> Path:
    return peft_adapter(demo_model_dir, tmp_path / "lora-out")


def nothing_imported() -> bool:
    folder = paths.adapters_dir()
    return runs.list_runs() == [] and (not folder.exists() or not any(folder.iterdir()))


def test_a_plain_peft_adapter_comes_in_evaluated_and_publishable(adapter, words, capsys):
    assert main(["runs", "import-adapter", str(adapter), "--base", "demo"]) == 0
    assert "Run lora-out (imported)" in capsys.readouterr().out
    run = runs.get_run("lora-out")
    assert run["status"] == "imported"
    folder = paths.in_home(run["adapter_dir"])
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["adapter_config.json", "adapter_model.safetensors", "README.md", "trainer_state.json", "workbench_run.json"]
        + ["loss_history.json"]
    )  # the pickled training_args.bin stayed behind
    assert [m["value"] for m in runs.run_metrics(run["id"], ("loss",))] == [2.0, 1.5]
    assert [m["value"] for m in runs.run_metrics(run["id"], ("eval_loss",))] == [1.7]
    assert runs.run_config(run).lora_r == 4 and runs.run_config(run).target_modules == "q_proj,v_proj"
    assert [a["name"] for a in runs.adapter_choices("demo")] == ["lora-out"]  # Compare offers it
    assert merge.adapter_dir(run) == folder  # Publish takes it
    # Imported without a dataset: evaluation asks for one, then scores it on that dataset's held-out rows.
    with pytest.raises(runs.RunError, match="was imported without a dataset"):
        eval_jobs.create_eval(run["id"])
    assert main(["eval", "lora-out", "--dataset", words, "--limit", "2"]) == 0
    assert "exact_match" in capsys.readouterr().out
    assert eval_results.results(run["id"])
    # A second import of the same folder gets a name of its own.
    assert (
        import_adapter(ImportRequest(str(adapter), "demo", dataset=words), say=lambda _: None)["name"] == "lora-out-2"
    )


def test_an_adapter_made_of_links_is_copied_into_the_workspace(adapter, tmp_path):
    cache = tmp_path / "hub" / "snapshot"
    blobs = tmp_path / "hub" / "blobs"
    cache.mkdir(parents=True)
    blobs.mkdir()
    for file in adapter.iterdir():  # as the Hugging Face cache lays a snapshot out: links to blobs
        shutil.move(file, blobs / file.name)
        (cache / file.name).symlink_to(blobs / file.name)
    run = import_adapter(ImportRequest(str(cache), "demo", "from-cache"), say=lambda _: None)
    folder = paths.in_home(run["adapter_dir"])
    assert not any(p.is_symlink() for p in folder.iterdir())
    assert (folder / "adapter_model.safetensors").read_bytes() == (blobs / "adapter_model.safetensors").read_bytes()


def _other_size_base(demo_model_dir, tmp_path) -> Path:
    other = tmp_path / "other-base"
    shutil.copytree(demo_model_dir, other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "num_key_value_heads": 1}))  # v_proj: 32 -> 16 outputs
    return other


def _edit_config(folder: Path, **changes) -> None:
    config = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps({**config, **changes}))


@pytest.mark.parametrize(
    "case, message",
    [
        ("pickled", r"adapter_model\.bin: pickled weights are refused"),
        ("no config", r"adapter_config\.json: missing"),
        ("not lora", r"peft_type is 'IA3'; only LoRA adapters"),
        ("other base by name", r"base_model_name_or_path is 'meta-llama/Llama-3.1-8B', not the base 'demo'"),
        ("other base by shape", r"v_proj\.lora_B\.weight has shape \[32, 4\] where base .* needs \[16, 4\]"),
        ("missing target", r"target_modules \['w_pack'\] are not layers of base 'demo'"),
        ("no folder", r"no such folder"),
        # hostile files: a header claiming 2**60 bytes, garbage, a config that is not an object or not JSON
        ("huge header", r"adapter_model\.safetensors: not a readable safetensors file \(a header of"),
        ("garbage weights", r"adapter_model\.safetensors: not a readable safetensors file"),
        ("config a list", r"adapter_config\.json: expected a JSON object"),
        ("config not json", r"adapter_config\.json: not readable JSON"),
    ],
)
def test_a_refused_adapter_says_why_and_nothing_is_imported(adapter, demo_model_dir, tmp_path, case, message):
    base = "demo"
    if case == "pickled":
        (adapter / "adapter_model.safetensors").rename(adapter / "adapter_model.bin")
    elif case == "no config":
        (adapter / "adapter_config.json").unlink()
    elif case == "not lora":
        _edit_config(adapter, peft_type="IA3")
    elif case == "other base by name":
        _edit_config(adapter, base_model_name_or_path="meta-llama/Llama-3.1-8B")
    elif case == "other base by shape":
        base = str(_other_size_base(demo_model_dir, tmp_path))
        _edit_config(adapter, base_model_name_or_path=base)
    elif case == "missing target":
        _edit_config(adapter, target_modules=["q_proj", "v_proj", "w_pack"])
    elif case == "no folder":
        adapter = tmp_path / "nowhere"
    elif case == "huge header":
        (adapter / "adapter_model.safetensors").write_bytes((2**60).to_bytes(8, "little") + b"{}")
    elif case == "garbage weights":
        (adapter / "adapter_model.safetensors").write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{{{{{")
    elif case == "config a list":
        (adapter / "adapter_config.json").write_text("[1, 2]")
    elif case == "config not json":
        (adapter / "adapter_config.json").write_text('{"peft_type": "LORA",')
    with pytest.raises(ImportAdapterError, match=message):
        import_adapter(ImportRequest(str(adapter), base), say=lambda _: None)
    assert nothing_imported()


def test_a_copy_cut_short_by_a_full_disk_leaves_no_adapter_and_no_run(adapter, monkeypatch):
    copied, copy = [], shutil.copyfile

    def copy_until_full(source, target):
        if copied:
            raise OSError(errno.ENOSPC, "No space left on device")
        copied.append(copy(source, target))

    monkeypatch.setattr(imported.shutil, "copyfile", copy_until_full)
    with pytest.raises(OSError, match="No space left"):
        import_adapter(ImportRequest(str(adapter), "demo"), say=lambda _: None)
    assert copied and nothing_imported()
    assert not list(paths.adapters_dir().glob(".*"))  # no half-written hidden folder either


def test_the_import_job_checks_at_once_then_imports_in_the_background(adapter, fake_launch):
    with pytest.raises(ImportAdapterError, match="no such folder"):
        imported.start_import(ImportRequest(str(adapter / "missing"), "demo"))
    job_id = imported.start_import(ImportRequest(str(adapter), "demo", "from-job"))
    assert [started for started, _ in fake_launch] == [job_id]  # not a heavy job: it starts at once
    assert job_worker.run(job_id, schedule_next=False) == "completed"
    assert registry.result(registry.get(job_id))["run"] == "from-job"
    assert runs.get_run("from-job")["status"] == "imported"


def test_an_imported_adapter_exports_to_gguf_like_a_trained_one(adapter, converter_dir):
    from workbench.publish import gguf
    from workbench.publish.merge import exports_dir

    run = runs.get_run(import_adapter(ImportRequest(str(adapter), "demo"), say=lambda _: None)["name"])
    manifest = gguf.export_gguf(gguf.GGUFExport(run["id"], quantize="q8_0", compare=0))
    out = exports_dir(run) / "gguf-q8_0"
    assert Path(manifest["folder"]) == out
    assert {"Modelfile", "lora-out-lora-f32.gguf", "lora-out-q8_0.gguf"} <= {p.name for p in out.iterdir()}
    metadata, tensors = gguf.read_gguf(out / "lora-out-lora-f32.gguf")
    assert metadata["adapter.type"] == "lora" and metadata["adapter.lora.alpha"] == 8
    assert len(tensors) == 2 * 2 * 2  # q_proj and v_proj, 2 blocks, A and B
