"""Fit a GPU run to the card: the biggest batch the memory estimate allows, checkpointing only when needed.

The seeds' recipe trains one sequence per forward pass with gradient checkpointing, so that a 7B QLoRA
fits an 8 GB card; on a bigger card that leaves most of the GPU idle (README: about 5 % of an H100 on a
1B model). `fit_to_gpu` keeps the recipe's effective batch (batch × gradient accumulation, so the same
optimizer steps and the same learning) and picks, from the estimate in `workbench.training.memory`:
1. gradient checkpointing off (about 1.5-2x faster) with the largest per-device batch that fits;
2. only if no batch fits without it, checkpointing on, again with the largest batch that fits;
3. if nothing fits, the config unchanged: the Train page's estimate then says what to change.
"""

from __future__ import annotations

from workbench.models.loading import ModelLoadError
from workbench.system import DeviceInfo
from workbench.training.config import TrainConfig
from workbench.training.memory import ModelShape, estimate_memory, model_shape_for

# Share of the GPU's free memory a run may plan for: the estimate is within about 0.5 GB on real shapes
# (bench/gpu_train.py), and the card also holds the CUDA context and other programs' memory.
HEADROOM = 0.85


def fit_to_gpu(config: TrainConfig, shape: ModelShape, device: DeviceInfo) -> TrainConfig:
    """`config` with per_device_batch_size, gradient_accumulation_steps and gradient_checkpointing set
    for this GPU (see the module docstring). Unchanged on a CPU or when the GPU's memory is unknown."""
    if device.kind != "cuda" or not (device.free_gb or device.total_gb):
        return config
    budget = HEADROOM * min(x for x in (device.free_gb, device.total_gb) if x)
    effective = config.per_device_batch_size * config.gradient_accumulation_steps
    for checkpointing in (False, True):
        for batch in _batch_sizes(effective):
            candidate = config.with_updates(
                per_device_batch_size=batch,
                gradient_accumulation_steps=effective // batch,
                gradient_checkpointing=checkpointing,
            )
            if estimate_memory(candidate, shape).total_gb <= budget:
                return candidate
    return config


def fit_base_to_gpu(config: TrainConfig, device: DeviceInfo) -> TrainConfig:
    """`fit_to_gpu` for `config.base_model`'s shape; unchanged when that shape is unknown (an unreachable
    hub id: the memory estimate then says why)."""
    try:
        shape = model_shape_for(config.base_model)
    except ModelLoadError:
        return config
    return fit_to_gpu(config, shape, device)


def _batch_sizes(effective: int) -> list[int]:
    """Divisors of the effective batch, largest first (so that batch × accumulation stays the same)."""
    return [b for b in range(effective, 0, -1) if effective % b == 0]
