"""GRPO end to end through the worker on the demo model: rewards in the registry, sampled answers stored, one
adapter saved, resumable after a crash; and its rows and checks."""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file
from transformers import TrainerCallback

from workbench import paths, store
from workbench.training import runs
from workbench.training.config import TrainConfig
from workbench.training.objectives import build_datasets, objectives_for_kind
from workbench.training.samples import read_samples
from workbench.training.worker import run_training


def _config(tiny_demo_run, **settings) -> TrainConfig:
    base = {
        **tiny_demo_run,
        "objective": "grpo",
        "max_steps": 3,
        "learning_rate": 1e-3,
        "max_length": 64,
        "num_generations": 2,
        "per_device_batch_size": 2,
        "max_completion_length": 12,
        "rewards": "rouge_l:1,length:0.5",
        "reward_max_chars": 40,
        "beta": 0.04,
    }
    return TrainConfig(**{**base, **settings})


def _metric_names(run_id: int) -> set[str]:
    return {r["name"] for r in store.open_db().query("select distinct name from metrics where run_id = ?", [run_id])}


def test_grpo_learns_from_instruction_and_chat_rows(workbench_home, tiny_demo_run, trained_run):
    assert "grpo" in [o.name for o in objectives_for_kind("alpaca")]
    assert "grpo" in [o.name for o in objectives_for_kind("chat")]
    assert "grpo" not in [o.name for o in objectives_for_kind("preference")]
    train, validation, info = build_datasets(
        _config(tiny_demo_run, system_prompt="Sé breve."), trained_run["dataset_revision_id"]
    )
    assert info["shape"] == "prompt-reference" and info["train_rows"] == 6 and info["validation_rows"] == 2
    assert validation is None  # GRPO's held-out answers are checked by the task metric, not an eval loss
    row = train[0]
    assert row["prompt"][0] == {"role": "system", "content": "Sé breve."} and row["prompt"][-1]["role"] == "user"
    assert row["reference"] == row["prompt"][-1]["content"].removeprefix("Repite: ")


def test_a_json_reward_on_a_dataset_without_json_answers_is_refused_before_it_starts(
    workbench_home, tiny_demo_run, trained_run
):
    with pytest.raises(runs.RunError, match="no reference answer of dataset 'words' is JSON"):
        runs.create_run(_config(tiny_demo_run, rewards="field_f1:1,json_valid:0.5"))


def test_a_grpo_run_from_an_sft_run_logs_rewards_keeps_samples_and_saves_one_adapter(
    workbench_home, tiny_demo_run, trained_run, capsys
):
    config = _config(
        tiny_demo_run, start_from=trained_run["name"], task_metric="exact_match", task_check_rows=2, task_check_steps=2
    )
    run_id = runs.create_run(config, name="grpo-run")
    assert run_training(run_id, schedule_next=False) == "completed", runs.get_run(run_id)["error"]

    names = _metric_names(run_id)
    assert {"loss", "reward", "reward_std", "reward_group_std", "kl", "completions/mean_length"} <= names
    assert {"rewards/rouge_l/mean", "rewards/length/mean", "task/exact_match"} <= names
    rewards = [row["value"] for row in runs.run_metrics(run_id, ("reward",))]
    assert len(rewards) == 3 and all(0 <= value <= 1.5 for value in rewards)  # weights 1 + 0.5

    samples = read_samples("grpo-run")
    assert samples["step"] == 3 and samples["group_size"] == 2 and samples["rewards"] == ["rouge_l", "length"]
    assert len(samples["samples"]) == 2 and {s["group"] for s in samples["samples"]} == {1}
    first = samples["samples"][0]
    assert first["prompt"].startswith("Repite: ") and isinstance(first["answer"], str)
    assert set(first["rewards"]) == {"rouge_l", "length"}
    assert first["reward"] == pytest.approx(first["rewards"]["rouge_l"] + 0.5 * first["rewards"]["length"])

    adapter = paths.adapter_dir("grpo-run")
    sft = load_file(paths.adapter_dir(trained_run["name"]) / "adapter_model.safetensors")
    grpo = load_file(adapter / "adapter_model.safetensors")
    assert set(grpo) == set(sft) and not (adapter / "ref").exists()
    record = json.loads((adapter / paths.RUN_FILE).read_text())
    assert record["config"]["objective"] == "grpo" and record["training_shape"] == "prompt-reference"
    log = capsys.readouterr().out
    assert "objective GRPO" in log and "reward " in log and "PEFT's 'ref' adapter" in log
    assert "Sampling: transformers' generate with the KV cache." in log


class _Crash(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 3:
            raise RuntimeError("simulated crash")


def test_a_crashed_grpo_run_resumes_from_its_checkpoint(workbench_home, tiny_demo_run, trained_run):
    run_id = runs.create_run(_config(tiny_demo_run, max_steps=5, save_steps=2), name="grpo-crash")
    assert run_training(run_id, extra_callbacks=[_Crash()], schedule_next=False) == "failed"
    assert runs.latest_checkpoint("grpo-crash").name == "checkpoint-2"
    assert run_training(run_id, resume=True, schedule_next=False) == "completed", runs.get_run(run_id)["error"]
    assert [row["step"] for row in runs.run_metrics(run_id, ("reward",))] == [1, 2, 3, 4, 5]
    assert read_samples("grpo-crash")["step"] == 5
    assert json.loads((paths.adapter_dir("grpo-crash") / paths.RUN_FILE).read_text())["resumed_from"] == "checkpoint-2"


def test_samples_of_another_run_are_none(workbench_home):
    assert read_samples("never-trained") is None


def test_the_log_names_the_kl_reference_only_when_beta_asks_for_one():
    from workbench.training.objectives import grpo

    config = TrainConfig(objective="grpo", dataset="words", base_model="demo")
    assert "the base itself" in grpo.reference(config)
    assert "starting adapter" in grpo.reference(config.with_updates(start_from="sft-run"))
    assert grpo.reference(config.with_updates(beta=0.0)) is None  # TRL loads no reference at beta 0


def test_the_launch_check_follows_a_new_revision_of_the_dataset(workbench_home):
    from workbench.data import repository

    repository.create_dataset("notes", "alpaca", [{"instruction": "a", "input": "", "output": "plain"}] * 2)
    config = TrainConfig(objective="grpo", dataset="notes", base_model="demo", rewards="field_f1:1")
    assert "no reference answer of dataset 'notes' is JSON" in runs.row_problems(config)[0]
    assert runs.row_problems(config) == runs.row_problems(config)  # asked again: the same answer
    repository.save_rows("notes", [{"instruction": "a", "input": "", "output": '{"k": 1}'}] * 2, base_revision=1)
    assert runs.row_problems(config) == []  # the latest revision now has JSON answers
    assert runs.row_problems(config.with_updates(dataset_revision=1))  # revision 1 still lacks them


def test_groups_are_sampled_with_vllm_on_a_cuda_machine_that_has_it_and_the_log_says_how(monkeypatch):
    from workbench.training.objectives import grpo

    assert grpo.sampler(cuda=True, vllm_installed=True) == (
        {"use_vllm": True, "vllm_mode": "colocate"},
        "Sampling: vLLM on the training GPU (colocate).",
    )
    settings, words = grpo.sampler(cuda=True, vllm_installed=False)
    assert settings == {} and "install vllm" in words
    settings, words = grpo.sampler(cuda=False, vllm_installed=True)  # vLLM needs a GPU: generate() on a CPU
    assert settings == {} and "KV cache" in words and "vllm" not in words
    monkeypatch.setattr(grpo, "_cuda", lambda: True)
    monkeypatch.setattr(grpo, "_vllm_installed", lambda: True)
    config = TrainConfig(objective="grpo", dataset="words", base_model="demo")
    trl_config = grpo.trl_config(config, {"output_dir": "unused", "use_cpu": True, "bf16": False})
    assert trl_config.use_vllm and trl_config.vllm_mode == "colocate"
    said: list[str] = []
    grpo.trainer_options(config, "run", said.append)
    assert "Sampling: vLLM on the training GPU (colocate)." in said
