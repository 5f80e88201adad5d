"""Merging a run's adapter into its base: the folder both publishing routes and the GGUF export start from."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from workbench.publish.merge import PublishError, exports_dir, merge_run


def test_merge_writes_a_loadable_model_with_the_runs_template_and_reuses_it(trained_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    seen = []
    folder = merge_run(trained_run["id"], seen.append)
    assert folder == exports_dir(trained_run) / "merged"
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"} <= {
        p.name for p in folder.iterdir()
    }
    template = (folder / "chat_template.jinja").read_text()
    assert "<|im_start|>" in template and "generation %}" not in template  # training-only markers dropped
    tokenizer = AutoTokenizer.from_pretrained(folder)
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hola"}], tokenize=False, add_generation_prompt=True
    )
    assert rendered == "<|im_start|>user\nhola<|im_end|>\n<|im_start|>assistant\n"
    assert AutoModelForCausalLM.from_pretrained(folder).config.num_hidden_layers == 2
    assert merge_run(trained_run["id"], seen.append) == folder
    assert seen[-1].startswith("Using the merged model already in")


def test_a_disk_that_fills_up_during_the_merge_leaves_no_folder_that_looks_finished(trained_run, monkeypatch):
    from transformers import PreTrainedModel

    def save_until_the_disk_is_full(self, directory, **kwargs):
        Path(directory).mkdir(parents=True, exist_ok=True)
        (Path(directory) / "config.json").write_text(json.dumps({"half": True}))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", save_until_the_disk_is_full)
    with pytest.raises(PublishError, match=r"Not enough disk space in .* for the merged model: it needs about"):
        merge_run(trained_run["id"])
    assert list(exports_dir(trained_run).iterdir()) == []  # neither merged/ nor a hidden .building folder
