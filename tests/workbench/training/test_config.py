import pytest

from workbench.training.config import ConfigError, TrainConfig, cpu_preset


def test_defaults_follow_the_seed_recipe():
    config = TrainConfig(dataset="d")
    assert (config.lora_r, config.lora_alpha, config.lora_dropout) == (8, 16, 0.05)
    assert (config.learning_rate, config.lr_scheduler, config.num_epochs) == (2e-4, "cosine", 3.0)
    assert (config.max_length, config.gradient_accumulation_steps) == (1024, 4)
    assert config.train_on_inputs is False and config.packing is True
    assert config.trust_remote_code is False
    assert config.validate() is config


@pytest.mark.parametrize(
    "changes,field,reason",
    [
        ({"lora_r": 0}, "lora_r", "at least 1"),
        ({"lora_alpha": 0}, "lora_alpha", "at least 1"),
        ({"lora_dropout": 1.0}, "lora_dropout", "[0, 1)"),
        ({"learning_rate": 0.0}, "learning_rate", "must be > 0"),
        ({"learning_rate": 5.0}, "learning_rate", "≤ 1"),
        ({"lr_scheduler": "zigzag"}, "lr_scheduler", "not one of cosine"),
        ({"warmup": -1}, "warmup", "≥ 0"),
        ({"warmup": 2.5}, "warmup", "whole number"),
        ({"weight_decay": -0.1}, "weight_decay", "≥ 0"),
        ({"num_epochs": 0}, "num_epochs", "max_steps"),
        ({"max_steps": 0}, "max_steps", "-1"),
        ({"per_device_batch_size": 0}, "per_device_batch_size", "≥ 1"),
        ({"gradient_accumulation_steps": 0}, "gradient_accumulation_steps", "≥ 1"),
        ({"max_length": 8}, "max_length", "between 16"),
        ({"precision": "fp8"}, "precision", "not one of auto"),
        ({"method": "full"}, "method", "not one of lora, qlora"),
        ({"target_modules": " , "}, "target_modules", "empty"),
        ({"eval_steps": -1}, "eval_steps", "≥ 0"),
        ({"save_steps": -5}, "save_steps", "≥ 0"),
        ({"logging_steps": 0}, "logging_steps", "≥ 1"),
        ({"chat_template": "llama9"}, "chat_template", "not one of model"),
        ({"dataset": ""}, "dataset", "pick the dataset"),
        ({"base_model": " "}, "base_model", "choose 'demo'"),
        ({"method": "qlora", "precision": "fp32"}, "precision", "QLoRA"),
    ],
)
def test_each_rejected_value_says_why(changes, field, reason):
    with pytest.raises(ConfigError) as error:
        TrainConfig(**{"dataset": "d", **changes}).validate()
    assert len(error.value.problems) == 1
    problem = error.value.problems[0]
    assert problem.startswith(f"{field}:") and reason in problem


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as error:
        TrainConfig(dataset="", lora_r=-1, learning_rate=-1, max_length=1).validate()
    assert len(error.value.problems) == 4
    assert str(error.value).startswith("Invalid training settings:\n- dataset:")


def test_round_trip_and_unknown_keys():
    config = TrainConfig(dataset="d", lora_r=32, target_modules="q_proj, v_proj")
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert config.resolved_target_modules() == ["q_proj", "v_proj"]
    assert TrainConfig(target_modules="attention").resolved_target_modules() == ["q_proj", "k_proj", "v_proj", "o_proj"]
    with pytest.raises(ConfigError, match="lora_rank: unknown setting"):
        TrainConfig.from_dict({"lora_rank": 4})


def test_cpu_preset_trades_memory_for_speed():
    config = cpu_preset(TrainConfig(dataset="d"))
    assert config.target_modules == "all-linear" and config.lora_r == 16 and config.lora_alpha == 32
    assert config.gradient_checkpointing is False and config.precision == "auto"  # bf16 autocast where the CPU has it
    assert config.learning_rate > TrainConfig().learning_rate
    config.validate()
