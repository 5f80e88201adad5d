"""Group-relative policy optimisation: TRL's GRPOTrainer samples several answers to each prompt of an SFT
dataset, scores them with the evaluation's own metrics against the row's reference answer (training/rewards.py)
and moves the adapter toward the better-scored answers of each group.

It usually goes on from a completed SFT run's adapter: from a base that never produces the format, every
answer of a group scores 0 and there is nothing to learn.
"""

from __future__ import annotations

from workbench.data import records
from workbench.training import rewards
from workbench.training.config import TrainConfig
from workbench.training.objectives.base import Objective, conversation

# What TRL's GRPOTrainer logs that the Runs page charts (besides rewards/<name>/mean, one per reward).
METRICS = (
    "reward",
    "reward_std",
    "reward_group_std",
    "frac_reward_zero_std",
    "completions/mean_length",
    "completions/clipped_ratio",
    "kl",
    "entropy",
)


def rows(stored: list[dict], fmt: str, config: TrainConfig) -> list[dict]:
    """{"prompt": [turns before the last answer], "reference": that answer's text}: TRL samples answers to the
    prompt and hands the reference to the reward functions."""
    shaped = []
    for row in stored:
        messages = conversation(row, fmt, config)
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")  # validated: there is one
        shaped.append({"prompt": messages[:last], "reference": str(messages[last]["content"])})
    return shaped


def row_problems(stored: list[dict], fmt: str, config: TrainConfig, dataset: str) -> list[str]:
    """Rewards that need reference answers (or JSON ones) the dataset does not have."""
    references = [row["reference"] for row in rows(stored, fmt, config)]
    return rewards.reference_problems(config.rewards, references, dataset)


def fitting_rewards(stored: list[dict], fmt: str, config: TrainConfig, dataset: str) -> str | None:
    """Rewards that fit the dataset's reference answers when the config's do not (rewards.fitting)."""
    references = [row["reference"] for row in rows(stored, fmt, config)]
    return rewards.fitting(config.rewards, references, dataset)


def trl_config(config: TrainConfig, common: dict):
    # Heavy: TRL loads only in the worker.
    from trl import GRPOConfig

    _, weights = zip(*rewards.parse(config.rewards), strict=True)
    common = {key: value for key, value in common.items() if key != "dataset_num_proc"}  # GRPO prepares no dataset
    common["include_num_input_tokens_seen"] = "no"  # GRPOTrainer counts prompt and sampled tokens itself
    return GRPOConfig(
        **common,
        num_generations=config.num_generations,
        max_completion_length=config.max_completion_length,
        temperature=config.temperature,
        beta=config.beta,
        loss_type="dapo" if config.loss_type == "auto" else config.loss_type,  # TRL's default
        reward_weights=list(weights),
        **_sampling()[0],
    )


def sampler(cuda: bool, vllm_installed: bool) -> tuple[dict, str]:
    """(GRPOConfig settings, the log's words) for sampling the groups: vLLM sharing the GPU ("colocate", TRL's
    fastest single-machine option) where it is installed on a CUDA machine, else generate() with the KV cache."""
    if cuda and vllm_installed:
        return {"use_vllm": True, "vllm_mode": "colocate"}, "Sampling: vLLM on the training GPU (colocate)."
    if cuda:
        return {}, "Sampling: transformers' generate with the KV cache (install vllm for faster sampling on a GPU)."
    return {}, "Sampling: transformers' generate with the KV cache."


def _sampling() -> tuple[dict, str]:
    return sampler(_cuda(), _vllm_installed())


def _cuda() -> bool:
    from workbench.training.model_load import cuda_available

    return cuda_available()


def _vllm_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


def trainer_class() -> type:
    from workbench.training.reinforce import WorkbenchGRPOTrainer

    return WorkbenchGRPOTrainer


def trainer_options(config: TrainConfig, run_name: str, say) -> dict:
    settings = rewards.RewardSettings(pattern=config.reward_pattern, max_chars=config.reward_max_chars)
    functions, _ = rewards.reward_functions(config.rewards, settings, say)
    say(_sampling()[1])
    return {"reward_funcs": functions, "run_name": run_name}


def reference(config: TrainConfig) -> str | None:
    if config.beta == 0:  # TRL loads no reference then: nothing to measure the KL against
        return None
    return (
        "a frozen copy of the starting adapter (PEFT's 'ref' adapter on the same base), for the KL term"
        if config.start_from
        else "the base itself (the new adapter switched off), for the KL term"
    )


OBJECTIVE = Objective(
    name="grpo",
    label="GRPO",
    kinds=records.SFT_KINDS,
    learns="samples several answers per prompt and reinforces the better-scored ones (rewards from your metrics)",
    rows=rows,
    trl_config=trl_config,
    trainer_class=trainer_class,
    trainer_options=trainer_options,
    reference=reference,
    metrics=METRICS,
    row_problems=row_problems,
    evaluates=False,
    reference_passes=1,
)
