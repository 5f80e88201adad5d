"""Loading a base model and tokenizer for LoRA / QLoRA training, and the LoRA settings PEFT applies."""

import pytest

from workbench.models.loading import ModelLoadError
from workbench.training.config import TrainConfig
from workbench.training.data import TrainingError
from workbench.training.model_load import load_for_training, peft_config_for, precision_for, training_tokenizer


def test_fp32_on_cpu_and_lora_settings_follow_the_config():
    import torch

    config = TrainConfig(precision="bf16", lora_r=4, lora_alpha=8, lora_dropout=0.1, target_modules="q_proj,v_proj")
    if not torch.cuda.is_available():
        assert precision_for(config.with_updates(precision="fp32")) == (False, False, torch.float32)
    lora = peft_config_for(config)
    assert (lora.r, lora.lora_alpha, lora.lora_dropout) == (4, 8, 0.1)
    assert set(lora.target_modules) == {"q_proj", "v_proj"} and lora.task_type == "CAUSAL_LM"
    assert peft_config_for(TrainConfig(target_modules="all-linear")).target_modules == "all-linear"


def test_the_training_tokenizer_is_a_copy_with_the_chosen_template(demo_model_dir):
    from workbench.models.demo import CHATML_TEMPLATE
    from workbench.models.loading import load_tokenizer

    shared = load_tokenizer("demo")
    shared_template = shared.chat_template
    tokenizer = training_tokenizer(TrainConfig(chat_template="chatml"))
    assert tokenizer is not shared and tokenizer.chat_template == CHATML_TEMPLATE
    assert tokenizer.pad_token is not None and shared.chat_template == shared_template

    model, tokenizer = load_for_training(TrainConfig())
    assert model.config.use_cache is False and tokenizer.pad_token_id is not None


def test_load_errors_are_plain(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_for_training(TrainConfig(base_model=str(tmp_path / "missing")))
    with pytest.raises(TrainingError, match="QLoRA needs a CUDA GPU"):
        import torch

        if torch.cuda.is_available():
            pytest.skip("a CUDA GPU is present")
        load_for_training(TrainConfig(method="qlora"))
