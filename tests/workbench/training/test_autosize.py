"""Fitting a GPU run to the card's memory: pure arithmetic over the memory estimate, so it runs on any machine."""

import pytest

from workbench.models.presets import preset_for
from workbench.system import DeviceInfo
from workbench.training.autosize import HEADROOM, fit_base_to_gpu, fit_to_gpu
from workbench.training.config import TrainConfig
from workbench.training.memory import estimate_memory

LLAMA_1B = preset_for("meta-llama/Llama-3.2-1B-Instruct").shape
RECIPE = TrainConfig(dataset="d", base_model="meta-llama/Llama-3.2-1B-Instruct")  # batch 1 x 4, checkpointing


def gpu(gb: float) -> DeviceInfo:
    return DeviceInfo(kind="cuda", name="test GPU", count=1, total_gb=gb, free_gb=gb, bf16=True)


def gb(config: TrainConfig) -> float:
    return estimate_memory(config, LLAMA_1B).total_gb


def test_a_big_card_gets_the_whole_effective_batch_per_pass_without_checkpointing():
    fitted = fit_to_gpu(RECIPE, LLAMA_1B, gpu(80))
    assert (fitted.per_device_batch_size, fitted.gradient_accumulation_steps) == (4, 1)
    assert fitted.gradient_checkpointing is False
    assert gb(fitted) <= HEADROOM * 80


@pytest.mark.parametrize("card", [6, 8, 12, 16, 24, 40])
def test_the_fitted_run_fits_keeps_the_effective_batch_and_nothing_bigger_would_fit(card):
    fitted = fit_to_gpu(RECIPE, LLAMA_1B, gpu(card))
    budget = HEADROOM * card
    assert fitted.per_device_batch_size * fitted.gradient_accumulation_steps == 4
    assert gb(fitted) <= budget
    if fitted.gradient_checkpointing:  # only when no batch fits without it
        assert gb(RECIPE.with_updates(per_device_batch_size=1, gradient_checkpointing=False)) > budget
    bigger = [b for b in (2, 4) if b > fitted.per_device_batch_size]
    for batch in bigger:
        candidate = fitted.with_updates(per_device_batch_size=batch, gradient_accumulation_steps=4 // batch)
        assert gb(candidate) > budget, f"batch {batch} would also fit on {card} GB"


def test_checkpointing_is_turned_on_when_memory_needs_it():
    # between "batch 1 with checkpointing" and "batch 1 without" lies a card that needs checkpointing
    needs = gb(RECIPE.with_updates(per_device_batch_size=1, gradient_checkpointing=False))
    enough_with = gb(RECIPE.with_updates(per_device_batch_size=1, gradient_checkpointing=True))
    assert enough_with < needs
    card = (enough_with + needs) / 2 / HEADROOM
    fitted = fit_to_gpu(RECIPE, LLAMA_1B, gpu(card))
    assert fitted.gradient_checkpointing is True and gb(fitted) <= HEADROOM * card


def test_a_cpu_or_a_card_too_small_leaves_the_config_as_it_is():
    cpu = DeviceInfo(kind="cpu", name="2 cores")
    assert fit_to_gpu(RECIPE, LLAMA_1B, cpu) == RECIPE
    assert fit_to_gpu(RECIPE, LLAMA_1B, gpu(1)) == RECIPE
    assert fit_to_gpu(RECIPE, LLAMA_1B, DeviceInfo(kind="cuda", name="unknown size")) == RECIPE


def test_the_base_is_fitted_by_its_own_shape_and_an_unknown_base_keeps_the_recipe():
    demo = fit_base_to_gpu(RECIPE.with_updates(base_model="demo"), gpu(8))
    assert (demo.per_device_batch_size, demo.gradient_accumulation_steps, demo.gradient_checkpointing) == (4, 1, False)
    unknown = RECIPE.with_updates(base_model="nobody/not-a-preset")
    assert fit_base_to_gpu(unknown, gpu(80)) == unknown
