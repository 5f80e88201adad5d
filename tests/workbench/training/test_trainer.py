"""The workbench's SFTTrainer: loss only at labelled positions, equal to the full-logits loss; CPU precision."""

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

from workbench.training import model_load
from workbench.training.config import TrainConfig, cpu_preset
from workbench.training.data import TrainingError
from workbench.training.model_load import precision_for
from workbench.training.trainer import add_label_only_head, supports_label_only_loss


def lora_model(path):
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", lora_dropout=0.0))
    for name, param in model.named_parameters():  # non-zero B so that the LoRA gradients are not trivial
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.02)
    return model


def batch(vocab: int):
    torch.manual_seed(1)
    ids = torch.randint(5, vocab, (2, 12))
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0  # the second row is padded
    labels = ids.clone()
    labels[:, :6] = -100  # the prompt
    labels[1, 9:] = -100
    return ids, mask, labels


def loss_and_grads(model, call):
    model.zero_grad()
    loss = call()
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def test_label_only_loss_equals_the_models_own_loss_with_the_same_gradients(demo_model_dir):
    model = lora_model(demo_model_dir)
    ids, mask, labels = batch(model.config.vocab_size)
    reference, reference_grads = loss_and_grads(
        model, lambda: model(input_ids=ids, attention_mask=mask, labels=labels).loss
    )

    add_label_only_head(model.get_base_model())
    fast, fast_grads = loss_and_grads(
        model, lambda: model(input_ids=ids, attention_mask=mask, workbench_labels=labels).loss
    )

    assert fast == pytest.approx(reference, rel=1e-5)
    assert len(fast_grads) == len(reference_grads) > 0
    for name, grad in reference_grads.items():
        assert torch.allclose(fast_grads[name], grad, atol=1e-6, rtol=1e-4), name
    # without the keyword the forward is the model's own: logits for every position
    assert model(input_ids=ids, attention_mask=mask).logits.shape == (2, 12, model.config.vocab_size)


def test_num_items_in_batch_divides_the_summed_loss(demo_model_dir):
    model = lora_model(demo_model_dir)
    add_label_only_head(model.get_base_model())
    ids, mask, labels = batch(model.config.vocab_size)
    mean = model(input_ids=ids, attention_mask=mask, workbench_labels=labels).loss
    counted = int((labels[:, 1:] != -100).sum())
    summed = model(input_ids=ids, attention_mask=mask, workbench_labels=labels, num_items_in_batch=2 * counted).loss
    assert summed.item() == pytest.approx(mean.item() / 2, rel=1e-5)


def test_models_with_scaled_logits_keep_trls_loss(demo_model_dir):
    model = AutoModelForCausalLM.from_pretrained(str(demo_model_dir))
    assert supports_label_only_loss(model)
    model.config.logit_scale = 0.5
    assert not supports_label_only_loss(model)


def test_cpu_precision_is_bf16_autocast_only_where_the_cpu_has_it(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("CPU precision rules")
    config = cpu_preset(TrainConfig(dataset="d"))
    monkeypatch.setattr(model_load, "cpu_has_native_bf16", lambda: True)
    assert precision_for(config) == (True, False, torch.float32)  # fp32 weights, bf16 matmuls
    assert precision_for(config.with_updates(precision="fp32")) == (False, False, torch.float32)
    monkeypatch.setattr(model_load, "cpu_has_native_bf16", lambda: False)
    assert precision_for(config) == (False, False, torch.float32)
    with pytest.raises(TrainingError, match="no native bf16"):
        precision_for(config.with_updates(precision="bf16"))


def test_the_worker_trains_with_the_label_only_loss_on_cpu(capsys):
    if torch.cuda.is_available():
        pytest.skip("on CUDA the worker keeps TRL's fused LM head (tests/workbench/training/test_gpu_defaults.py)")
    from workbench.data import repository
    from workbench.data.split import SplitSpec
    from workbench.system import cpu_has_native_bf16
    from workbench.training import runs
    from workbench.training.worker import run_training

    rows = [{"instruction": f"Repite: {w}", "input": "", "output": w} for w in ("uno", "dos", "tres", "cuatro")] * 3
    repository.create_dataset("words", "alpaca", rows)
    repository.make_split("words", 1, SplitSpec(seed=1, validation_ratio=None, validation_count=2))
    config = cpu_preset(TrainConfig(dataset="words", base_model="demo")).with_updates(
        max_steps=4, auto_evaluate=False, learning_rate=1e-2
    )
    run_id = runs.create_run(config, name="label-only")
    assert run_training(run_id, schedule_next=False) == "completed", runs.get_run(run_id)["error"]
    out = capsys.readouterr().out
    assert "Loss: LM head and cross-entropy only at the labelled positions" in out
    assert ("bf16 mixed" in out) == cpu_has_native_bf16()
    assert len(runs.run_metrics(run_id, ("loss",))) == 4
