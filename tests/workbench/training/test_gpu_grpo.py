"""GRPO on a CUDA GPU: a round from an SFT adapter completes, logs its rewards and says how it sampled (vLLM
where it is installed, else generate with the KV cache). Skipped without CUDA."""

import pytest

from workbench.training import runs
from workbench.training.config import TrainConfig
from workbench.training.worker import run_training

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def test_a_grpo_round_on_the_gpu_completes_with_rewards_and_names_its_sampler(
    workbench_home, tiny_demo_run, trained_run, capsys
):
    from workbench.training.objectives import grpo

    config = TrainConfig(
        **{
            **tiny_demo_run,
            "objective": "grpo",
            "start_from": trained_run["name"],
            "max_steps": 4,
            "num_generations": 4,
            "per_device_batch_size": 4,
            "max_completion_length": 16,
            "rewards": "rouge_l:1,length:0.5",
            "reward_max_chars": 40,
        }
    )
    run_id = runs.create_run(config, name="gpu-grpo")
    assert run_training(run_id, schedule_next=False) == "completed", runs.get_run(run_id)["error"]
    rewards = [row["value"] for row in runs.run_metrics(run_id, ("reward",))]
    assert len(rewards) == 4 and all(0 <= value <= 1.5 for value in rewards)
    log = capsys.readouterr().out
    assert grpo.sampler(True, grpo._vllm_installed())[1] in log
    assert runs.final_metrics(run_id)["gpu_memory_gb"] > 0
