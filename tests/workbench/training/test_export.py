import pytest
import yaml

from workbench.training.config import ConfigError, TrainConfig, cpu_preset
from workbench.training.export import config_from_yaml, config_to_yaml, to_axolotl_yaml


def unusual_config() -> TrainConfig:
    """Every field away from its default, with text that YAML would otherwise misread."""
    return TrainConfig(
        base_model="Qwen/Qwen2.5-0.5B-Instruct",
        dataset="2024",
        dataset_revision=3,
        method="qlora",
        lora_r=16,
        lora_alpha=32,
        lora_dropout=0.1,
        target_modules="q_proj,v_proj",
        learning_rate=1e-05,
        lr_scheduler="linear",
        warmup=10.0,
        weight_decay=0.01,
        num_epochs=1.5,
        max_steps=200,
        per_device_batch_size=2,
        gradient_accumulation_steps=8,
        max_length=2048,
        packing=False,
        train_on_inputs=True,
        gradient_checkpointing=False,
        precision="bf16",
        optimizer="adamw_8bit",
        seed=7,
        eval_steps=25,
        save_steps=50,
        logging_steps=5,
        system_prompt="Eres un asistente: responde sólo en JSON.\n  - sin texto extra\nyes: no # not a comment",
        chat_template="chatml",
        trust_remote_code=True,
        auto_evaluate=False,
    )


@pytest.mark.parametrize(
    "config",
    [TrainConfig(), cpu_preset(TrainConfig(dataset="d")), unusual_config()],
    ids=["defaults", "cpu-preset", "unusual"],
)
def test_yaml_round_trips_exactly(config):
    text = config_to_yaml(config)
    back = config_from_yaml(text)
    assert back == config
    assert config_to_yaml(back) == text
    assert yaml.safe_load(text) == config.to_dict()


def test_yaml_carries_the_help_text():
    text = config_to_yaml(TrainConfig())
    assert f"# {TrainConfig.help('lora_r')}\nlora_r: 8\n" in text


def test_yaml_takes_hand_written_values():
    config = config_from_yaml("dataset: informes\nlearning_rate: 2e-4\nnum_epochs: 2\nlora_r: 4\n", "mine.yaml")
    assert config == TrainConfig(dataset="informes", learning_rate=2e-4, num_epochs=2.0, lora_r=4)
    assert isinstance(config.num_epochs, float)


def test_yaml_errors_name_the_key_and_the_file():
    with pytest.raises(ConfigError) as caught:
        config_from_yaml("lora_rank: 8\nlora_r: eight\npacking: 1\ndataset: 2024\ndataset_revision: x\n", "runs/a.yaml")
    problems = caught.value.problems
    assert len(problems) == 5
    assert problems[0].startswith("runs/a.yaml: lora_rank: unknown setting — did you mean 'lora_r'?")
    assert problems[1] == "runs/a.yaml: lora_r: expected a whole number, got 'eight' (str)."
    assert problems[2] == "runs/a.yaml: packing: expected true or false, got 1 (int)."
    assert problems[3] == "runs/a.yaml: dataset: expected text, got 2024 (int) (put text in quotes)."
    assert problems[4].startswith("runs/a.yaml: dataset_revision: expected a whole number (or empty)")


@pytest.mark.parametrize(
    "text,message",
    [
        ("lora_r: [8\n", "broken.yaml:2: not valid YAML"),
        ("", "broken.yaml: empty"),
        ("- lora_r: 8\n", "broken.yaml: expected settings as 'key: value' lines, got list"),
        ("learning_rate: fast\n", "broken.yaml: learning_rate: expected a number, got 'fast'"),
        ("method: null\n", "broken.yaml: method: is empty — expected text."),
    ],
)
def test_yaml_structure_errors(text, message):
    with pytest.raises(ConfigError) as caught:
        config_from_yaml(text, "broken.yaml")
    assert caught.value.problems[0].startswith(message)


def test_axolotl_lora_config():
    config = TrainConfig(
        dataset="informes",
        base_model="TinyLlama/TinyLlama-1.1B-Chat-v1.0",
        target_modules="q_proj,v_proj",
        system_prompt="Responde en JSON.",
    )
    text = to_axolotl_yaml(config, "informes.jsonl", "TinyLlama/TinyLlama-1.1B-Chat-v1.0")
    out = yaml.safe_load(text)
    assert out["base_model"] == "TinyLlama/TinyLlama-1.1B-Chat-v1.0"
    assert out["adapter"] == "lora" and out["load_in_4bit"] is False
    assert (out["lora_r"], out["lora_alpha"], out["lora_dropout"]) == (8, 16, 0.05)
    assert out["lora_target_modules"] == ["q_proj", "v_proj"] and "lora_target_linear" not in out
    assert (out["sequence_len"], out["sample_packing"]) == (1024, True)
    assert (out["micro_batch_size"], out["gradient_accumulation_steps"], out["num_epochs"]) == (1, 4, 3.0)
    assert "max_steps" not in out
    assert (out["optimizer"], out["lr_scheduler"], out["learning_rate"]) == ("adamw_torch", "cosine", 0.0002)
    assert out["warmup_ratio"] == 0.03 and "warmup_steps" not in out
    assert (out["weight_decay"], out["train_on_inputs"], out["bf16"]) == (0.0, False, "auto")
    assert (out["gradient_checkpointing"], out["seed"], out["val_set_size"]) == (True, 42, 0)
    assert out["datasets"] == [{"path": "informes.jsonl", "type": "chat_template", "field_messages": "messages"}]
    assert out["output_dir"]
    assert "#   Responde en JSON." in text  # the system prompt, as a comment for the user


def test_axolotl_qlora_config():
    config = TrainConfig(
        dataset="d", method="qlora", target_modules="all-linear", warmup=20, max_steps=100, precision="fp16"
    )
    out = yaml.safe_load(to_axolotl_yaml(config, "/data/d.jsonl", "Qwen/Qwen2.5-1.5B-Instruct"))
    assert out["adapter"] == "qlora" and out["load_in_4bit"] is True
    assert out["lora_target_linear"] is True and "lora_target_modules" not in out
    assert out["optimizer"] == "paged_adamw_8bit"
    assert out["warmup_steps"] == 20 and "warmup_ratio" not in out
    assert out["max_steps"] == 100
    assert (out["bf16"], out["fp16"]) == (False, True)
    assert out["datasets"][0]["path"] == "/data/d.jsonl"


@pytest.mark.parametrize("objective", ["dpo", "orpo", "kto"])
def test_axolotl_config_of_a_preference_run_has_its_rl_block(objective):
    config = TrainConfig(
        dataset="pairs", objective=objective, beta=0.2, start_from="sft-run", desirable_weight=1.5, packing=False
    )
    text = to_axolotl_yaml(config, "pairs.jsonl", "HuggingFaceTB/SmolLM2-135M-Instruct")
    out = yaml.safe_load(text)
    assert out["rl"] == objective and out["rl_beta"] == 0.2 and out["remove_unused_columns"] is False
    assert out["sample_packing"] is False
    dataset = out["datasets"][0]
    assert dataset["path"] == "pairs.jsonl"
    if objective == "dpo":
        assert dataset["type"] == "chat_template.default" and dataset["field_messages"] == "prompt"
        assert "preference rows" in text
    if objective == "kto":
        assert out["kto_desirable_weight"] == 1.5 and dataset["type"]["field_label"] == "label"
    assert "lora_model_dir" in text  # it goes on from another run's adapter: said in the header


def test_axolotl_config_of_an_sft_run_has_no_rl_block():
    out = yaml.safe_load(to_axolotl_yaml(TrainConfig(dataset="d"), "d.jsonl", "m"))
    assert "rl" not in out and out["datasets"][0]["type"] == "chat_template"


def test_axolotl_config_of_a_grpo_run_names_its_rewards_by_module_path():
    import importlib

    config = TrainConfig(dataset="tickets", objective="grpo", rewards="field_f1:1,json_valid:0.5", beta=0.04)
    text = to_axolotl_yaml(config, "tickets.jsonl", "m")
    out = yaml.safe_load(text)
    assert out["rl"] == "grpo" and "rl_beta" not in out
    trl = out["trl"]
    assert trl["reward_funcs"] == ["workbench.training.rewards.field_f1", "workbench.training.rewards.json_valid"]
    assert trl["reward_weights"] == [1.0, 0.5] and trl["beta"] == 0.04 and trl["num_generations"] == 4
    assert "dataset transform of yours" in text  # what Axolotl needs besides, said in the header
    for path in trl["reward_funcs"]:  # each importable as Axolotl imports it, and scoring as the evaluation does
        module, name = path.rsplit(".", 1)
        reward = getattr(importlib.import_module(module), name)
        answer = [{"role": "assistant", "content": '{"a": 1}'}]
        assert reward(prompts=[[]], completions=[answer], reference=['{"a": 1}']) == [1.0]
