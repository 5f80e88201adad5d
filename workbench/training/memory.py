"""How much memory a training run needs, before it starts: a breakdown in GB and one plain sentence.

The estimate follows what the worker does (`workbench.training.model_load`, `workbench.training.worker`):

    total = base weights + LoRA weights + gradients + optimizer state + activations + logits
            + allocator overhead (10 % of all that) + CUDA context (or the Python runtime on a CPU)

GB here are 10^9 bytes, as `workbench.system.DeviceInfo` reports them. Worked example, a 7B Llama
(hidden 4096, 32 layers, vocab 32000, intermediate 11008, 6.74B parameters), LoRA r 8 on the attention,
batch 1, max_length 1024, gradient checkpointing on:

    base weights   LoRA, bf16: 6.74e9 × 2 B                                      = 13.48 GB
                   QLoRA: 6.48e9 quantized × 0.516 B + 0.26e9 embedding × 4 B    =  4.39 GB
    LoRA weights   32 layers × 4 modules × r 8 × (4096 + 4096) = 8.4M params × 4 B = 0.03 GB,
                   the same again for gradients, × 2 for AdamW's moments (× 0.5 for 8-bit AdamW)
    activations    layer inputs 1024 × 32 × 4096 × 2 B = 0.27 GB + one layer rebuilt 0.27 GB
    logits         1024 tokens × 32000 × 4 B                                     =  0.13 GB

    LoRA:  (13.48 + 0.13 + 0.54 + 0.13) × 1.1 + 0.5 ≈ 16.2 GB
    QLoRA: ( 4.39 + 0.08 + 0.54 + 0.13) × 1.1 + 0.5 ≈  6.2 GB

Measured on an H100 (bench/gpu_train.py), peak reserved + 0.5 GB of context: QLoRA on a random-weight
7B Llama shape, 6.3 GB.

It is an estimate: real use also depends on the attention kernel, on how long the packed or padded
sequences really are (max_length is the worst case), and on fragmentation.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

from workbench.data.stats import LengthCheck
from workbench.models.loading import ModelLoadError, is_local, resolve_base
from workbench.models.presets import ModelShape, preset_for
from workbench.system import DeviceInfo
from workbench.training.config import TrainConfig, cpu_preset, with_objective
from workbench.training.objectives import objective_for

__all__ = ["MemoryEstimate", "ModelShape", "estimate_memory", "model_shape_for", "recommend", "trainable_params"]

GB = 1e9

# Bytes per base weight. NF4 (QLoRA): 4 bits = 0.5 B per weight, plus one absmax per block of 64 weights,
# itself quantized to 8 bits ("double quantization": 1/64 = 0.0156 B) with one fp32 absmax per 256 blocks
# (4 / (64 × 256) = 0.0002 B): 0.5 + 0.0156 + 0.0002 ≈ 0.516 B per weight.
WEIGHT_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
NF4_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)
# QLoRA keeps embed_tokens and lm_head out of the 4-bit layers, and peft's prepare_model_for_kbit_training
# (which the worker calls) casts every non-4-bit parameter to fp32: 4 B each.
QLORA_UNQUANTIZED_BYTES = 4

# Per trainable (LoRA) parameter: PEFT keeps adapter weights in fp32 (4 B) — they are their own master
# copy, so there is no separate one — plus an fp32 gradient (4 B). AdamW keeps two fp32 moments (8 B);
# 8-bit AdamW (paged or not) keeps them as 8-bit blocks (2 B). SGD without momentum keeps none.
LORA_WEIGHT_BYTES = 4
GRADIENT_BYTES = 4
ADAMW_BYTES = 8
ADAMW_8BIT_BYTES = 2

# Logits: per token and vocabulary entry. The arithmetic of a naive loss (bf16 logits, an fp32 copy, its
# fp32 gradient, that back in bf16) says 12 B, but the peak measured on an H100 through this worker
# (bench/gpu_train.py, 2026-11-23) is about 2 B: the fp32 temporaries do not all live at the same time.
# Llama-3.2-1B shape (128K vocabulary), bf16, 1024 tokens: 2.91 GB peak for 2.47 GB of weights, 0.2 GB of
# activations and 0.26 GB of bf16 logits. 4 B keeps some margin.
LOGIT_BYTES = 4
# RMSNorm upcasts to fp32 and keeps three h-sized fp32 tensors for its backward; two norms per layer.
NORM_BYTES_PER_HIDDEN = 2 * 3 * 4

ALLOCATOR_OVERHEAD = 0.10  # PyTorch's caching allocator: fragmentation and temporary buffers
CUDA_CONTEXT_GB = 0.5  # the CUDA context and kernels, before the first tensor
CPU_RUNTIME_GB = 0.5  # Python, PyTorch and transformers themselves, on a CPU

TIGHT = 0.9  # above this share of the GPU a run "fits, but only just"

ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
ALL_LINEAR = (*ATTENTION, "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class MemoryEstimate:
    total_gb: float
    breakdown: dict[str, float] = field(default_factory=dict)  # part -> GB, in the order they add up
    trainable_params: int = 0
    device_total_gb: float | None = None
    fits: bool | None = None  # None: no GPU (or its size unknown) to compare with
    recommendation: str = ""


def targeted_modules(config: TrainConfig) -> list[str]:
    """The linear layers of each decoder layer (Llama naming) that get an adapter under `config`."""
    targets = config.resolved_target_modules()
    if targets == "all-linear":
        return list(ALL_LINEAR)  # PEFT's all-linear: every linear layer except lm_head
    names = {t.strip() for t in targets}
    return [name for name in ALL_LINEAR if name in names]


def trainable_params(config: TrainConfig, shape: ModelShape) -> int:
    """LoRA parameters: A is r × in, B is out × r, so r × (in + out) per targeted layer, in every layer.

    Module names outside the Llama naming (q_proj … down_proj) are not counted.
    """
    linears = shape.linear_shapes()
    per_layer = sum(config.lora_r * (linears[name][0] + linears[name][1]) for name in targeted_modules(config))
    return per_layer * shape.num_layers


def estimate_memory(
    config: TrainConfig, model_shape: ModelShape, device: DeviceInfo | None = None, sequence_tokens: int | None = None
) -> MemoryEstimate:
    """The memory `config` needs to train a base of `model_shape`, per GPU (DDP copies the model to each).

    Without `device` the run is assumed to be on a GPU ('auto' precision: 16-bit) and `fits` is None.
    With a CPU device the estimate is for the CPU (fp32, no CUDA context) in RAM. `sequence_tokens`: the
    longest sequence the run really puts through (sampled_sequence_tokens), where known; else max_length.
    """
    cuda = device is None or device.kind == "cuda"
    total, breakdown, trainable = _estimate(config, model_shape, cuda, sequence_tokens)
    capacity = device.total_gb if device is not None and device.kind == "cuda" else None
    fits = None if capacity is None else total <= capacity
    if device is not None:
        text = recommend(config, model_shape, device, sequence_tokens)
    else:
        text = f"{_method(config)}: about {_gb(total)} GB of GPU memory."
    return MemoryEstimate(round(total, 2), breakdown, trainable, capacity, fits, text)


def recommend(config: TrainConfig, shape: ModelShape, device: DeviceInfo, sequence_tokens: int | None = None) -> str:
    """One plain sentence: does `config` fit this device, and if not, what to change."""
    if device.kind != "cuda":
        total = _estimate(config.with_updates(method="lora"), shape, False, sequence_tokens)[0]
        if config.method == "qlora":
            return (
                f"No GPU: QLoRA needs a CUDA GPU, so training runs as LoRA on the CPU in about {_gb(total)} GB "
                "of RAM; use the CPU preset."
            )
        preset = cpu_preset(config)
        if config.objective != "sft":  # the objective's own batch and learning rate on top of the preset
            preset = with_objective(preset, config.objective, preset)
        if config == preset:
            return f"No GPU: training runs on the CPU with the CPU preset, in about {_gb(total)} GB of RAM."
        return f"No GPU: training runs on the CPU in about {_gb(total)} GB of RAM; use the CPU preset."
    total = _estimate(config, shape, True, sequence_tokens)[0]
    method = _method(config)
    capacity = device.total_gb
    if capacity is None:
        return f"{method}: about {_gb(total)} GB of GPU memory (this GPU's size is unknown)."
    if total <= capacity:
        text = f"{method}: {_gb(total)} GB of your {_gb(capacity)} GB — fits"
        if device.free_gb is not None and total > device.free_gb:
            return f"{text}, but only {_gb(device.free_gb)} GB are free now: close the other programs using the GPU."
        if total > TIGHT * capacity:
            return f"{text}, with little to spare."
        return f"{text}."
    return (
        f"{method} needs about {_gb(total)} GB but your GPU has {_gb(capacity)} GB: "
        f"{_remedies(config, shape, capacity, sequence_tokens)}."
    )


def _remedies(config: TrainConfig, shape: ModelShape, capacity: float, sequence_tokens: int | None = None) -> str:
    """What to change so that the run fits, most effective first, each with its estimate when it fits."""

    def gb(c: TrainConfig) -> float:
        return _estimate(c, shape, True, sequence_tokens)[0]

    options = []
    if config.method == "lora":
        qlora = config.with_updates(
            method="qlora", precision="auto" if config.precision == "fp32" else config.precision
        )
        if gb(qlora) <= capacity:
            return f"switch to QLoRA (about {_gb(gb(qlora))} GB) or reduce max_length"
        options.append("switch to QLoRA")
    if not config.gradient_checkpointing:
        on = config.with_updates(gradient_checkpointing=True)
        if gb(on) <= capacity:
            return f"turn on gradient checkpointing (about {_gb(gb(on))} GB) or reduce max_length"
        options.append("turn on gradient checkpointing")
    if config.per_device_batch_size > 1:
        options.append("use batch size 1 with more gradient accumulation")
    options.append("reduce max_length")
    smallest = config.with_updates(
        method="qlora",
        precision="auto",
        gradient_checkpointing=True,
        per_device_batch_size=1,
        max_length=min(config.max_length, 256),
    )
    if gb(smallest) > capacity:
        return "this base is too large for this GPU even as QLoRA — pick a smaller base model"
    return ", ".join(options[:-1]) + f" and {options[-1]}" if len(options) > 1 else options[0]


def _method(config: TrainConfig) -> str:
    return "QLoRA" if config.method == "qlora" else "LoRA"


def _gb(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def _estimate(
    config: TrainConfig, shape: ModelShape, cuda: bool, sequence_tokens: int | None = None
) -> tuple[float, dict[str, float], int]:
    h, layers, vocab = shape.hidden_size, shape.num_layers, shape.vocab_size
    objective = objective_for(config)
    # padded or packed to max_length: worst case (unless the real longest is known); DPO/ORPO put chosen and
    # rejected through, KTO its KL pairing
    length = sequence_tokens or config.max_length
    tokens = config.per_device_batch_size * length * objective.extra_sequences
    # On a CPU the weights stay fp32 (bf16 autocast only casts the matmuls): counted as fp32, the safe side.
    # On a GPU 'auto' is bf16 or fp16.
    precision = "fp32" if not cuda or config.precision == "fp32" else "bf16"
    act_bytes = WEIGHT_BYTES[precision]

    # Base weights (frozen).
    if config.method == "qlora" and cuda:
        embedding = min(shape.embedding_parameters, shape.parameters)
        base = (shape.parameters - embedding) * NF4_BYTES + embedding * QLORA_UNQUANTIZED_BYTES
    else:
        base = shape.parameters * WEIGHT_BYTES[precision]

    # Adapter, its gradients and the optimizer's state.
    trainable = trainable_params(config, shape)
    optimizer = _optimizer_bytes(config)

    # Activations kept for the backward pass, per token and per decoder layer. Counted by hooking
    # torch.autograd.graph.saved_tensors_hooks on a TinyLlama-shaped PEFT model (bf16 and fp32, within 1 %);
    # SDPA / flash attention keep no seq × seq score matrix. Frozen linear layers keep no input.
    #   RMSNorm (×2):  computes in fp32 and keeps 3 fp32 vectors of h each            24·h B
    #   attention:     q and the attention output (heads × head_dim), k and v (kv_heads × head_dim)
    #   MLP:           gate, up and act(gate), I each                (these in the compute dtype)
    #   LoRA:          with dropout > 0, each targeted layer keeps its dropped-out input in the
    #                  adapter's fp32 (in_features × 4 B); with dropout 0 nothing extra
    # 7B Llama, bf16, attention targets: 24·4096 + 2·(2·4096 + 2·4096 + 3·11008) + 4·4096·4
    #                                    = 98,304 + 98,816 + 65,536 = 262,656 B per token per layer.
    linears = shape.linear_shapes()
    q_dim, kv_dim = linears["q_proj"][1], linears["k_proj"][1]
    per_layer_bytes = NORM_BYTES_PER_HIDDEN * h + act_bytes * (2 * q_dim + 2 * kv_dim + 3 * shape.intermediate_size)
    if config.lora_dropout > 0:
        per_layer_bytes += LORA_WEIGHT_BYTES * sum(linears[name][0] for name in targeted_modules(config))
    if config.gradient_checkpointing:
        # Only each layer's input survives the forward pass (h values per token per layer); the backward
        # pass recomputes one layer at a time in full: layers × h + one layer, instead of layers × all.
        # 7B: 1024 × (32 × 4096 × 2 B + 262,656 B) = 0.27 GB + 0.27 GB.
        activations = tokens * (layers * h * act_bytes + per_layer_bytes)
    else:
        # Every layer keeps everything: 7B: 1024 × 32 × 262,656 B = 8.6 GB.
        activations = tokens * layers * per_layer_bytes
    logits = tokens * vocab * LOGIT_BYTES
    # The reference's forward passes (DPO, KTO) keep nothing for backward: one layer's activations at a time
    # and their logits, the base's own weights reused (the adapter switched off, or PEFT's 'ref' copy).
    reference_tokens = config.per_device_batch_size * length * objective.reference_passes
    reference = reference_tokens * (per_layer_bytes + vocab * LOGIT_BYTES)

    parts = {
        "base weights": base,
        "LoRA weights": trainable * LORA_WEIGHT_BYTES,
        "gradients": trainable * GRADIENT_BYTES,
        "optimizer state": trainable * optimizer,
        "activations": activations,
        "logits": logits,
    }
    if reference:
        parts["reference passes"] = reference
    subtotal = sum(parts.values())
    parts["allocator overhead"] = subtotal * ALLOCATOR_OVERHEAD
    breakdown = {name: value / GB for name, value in parts.items()}
    if cuda:
        breakdown["CUDA context"] = CUDA_CONTEXT_GB
    else:
        breakdown["Python runtime"] = CPU_RUNTIME_GB
    breakdown = {name: round(value, 3) for name, value in breakdown.items()}
    return sum(breakdown.values()), breakdown, trainable


def _optimizer_bytes(config: TrainConfig) -> int:
    name = config.optimizer.lower()
    if name == "auto":
        name = "paged_adamw_8bit" if config.method == "qlora" else "adamw_torch"
    if "8bit" in name:
        return ADAMW_8BIT_BYTES
    if name == "sgd":
        return 0
    return ADAMW_BYTES


# --- model shapes -------------------------------------------------------------------------------------


def model_shape_for(base: str) -> ModelShape:
    """The shape of `base`: read from its config.json when it is local (the demo model, a prepared model,
    a folder), from its preset for a known hub id, or from the Hugging Face cache. Never downloads.

    Raises ModelLoadError when none of these knows the base.
    """
    resolved = resolve_base(base)
    if is_local(resolved):
        return shape_from_folder(Path(resolved))
    preset = preset_for(base)
    if preset is not None:
        return preset.shape
    cached = _cached_hub_file(resolved, "config.json")
    if cached is not None:
        return shape_from_config(_read_config(cached), parameters=None, where=f"{resolved} (cached)")
    raise ModelLoadError(
        f"No memory estimate for {resolved!r}: it is not a local folder, not one of the presets, and its "
        "config.json is not in the Hugging Face cache. Prepare (download) the model first, or pick a preset."
    )


def shape_from_folder(folder: Path) -> ModelShape:
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise ModelLoadError(
            f"The folder {folder} has no config.json, so its size is unknown. Copy the model's config.json into it."
        )
    return shape_from_config(_read_config(config_file), parameters=_count_parameters(folder), where=str(folder))


def shape_from_config(config: dict, parameters: int | None, where: str = "config.json") -> ModelShape:
    """A ModelShape from a transformers config.json; `parameters` None: computed from the shape."""
    if isinstance(config.get("text_config"), dict):  # multimodal wrappers (Gemma 3 4B+, Llava…)
        config = {**config, **config["text_config"]}

    def first(*keys, default=None):
        for key in keys:
            value = config.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
        return default

    hidden = first("hidden_size", "n_embd", "d_model")
    layers = first("num_hidden_layers", "n_layer", "num_layers")
    vocab = first("vocab_size")
    heads = first("num_attention_heads", "n_head")
    missing = [
        name
        for name, value in (
            ("hidden_size", hidden),
            ("num_hidden_layers", layers),
            ("vocab_size", vocab),
            ("num_attention_heads", heads),
        )
        if value is None
    ]
    if missing:
        raise ModelLoadError(f"{where}: config.json lacks {', '.join(missing)}, so the memory needed is unknown.")
    kv = first("num_key_value_heads", "num_kv_heads", default=1 if config.get("multi_query") else heads)
    intermediate = first("intermediate_size", "n_inner", "ffn_dim", default=4 * hidden)
    head_dim = first("head_dim")
    tied = config.get("tie_word_embeddings", True)  # transformers' PretrainedConfig default is True
    shape = ModelShape(0, hidden, layers, vocab, heads, kv, intermediate, head_dim, bool(tied))
    if parameters is None:
        parameters = _parameters_from_shape(shape)
    return ModelShape(parameters, hidden, layers, vocab, heads, kv, intermediate, head_dim, bool(tied))


def _parameters_from_shape(shape: ModelShape) -> int:
    """Llama-style count: embeddings + per layer (7 linear layers + 2 norms) + final norm (no biases)."""
    per_layer = sum(i * o for i, o in shape.linear_shapes().values()) + 2 * shape.hidden_size
    return shape.embedding_parameters + shape.num_layers * per_layer + shape.hidden_size


def _read_config(path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path} cannot be read ({type(exc).__name__}: {exc}).") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path} is not a JSON object.")
    return data


def _count_parameters(folder: Path) -> int | None:
    """Exact count from the *.safetensors headers (8-byte length + JSON; the weights are not read),
    else the manifest's count, else None."""
    files = sorted(folder.glob("*.safetensors"))
    if files:
        total = 0
        try:
            for file in files:
                with open(file, "rb") as handle:
                    (length,) = struct.unpack("<Q", handle.read(8))
                    if length > 100_000_000:
                        return None
                    header = json.loads(handle.read(length))
                for name, info in header.items():
                    if name != "__metadata__":
                        count = 1
                        for size in info["shape"]:
                            count *= size
                        total += count
        except (OSError, ValueError, KeyError, TypeError, struct.error):
            total = 0
        if total:
            return total
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        stated = manifest.get("parameters") if isinstance(manifest, dict) else None
    except (OSError, ValueError):
        return None
    return stated if isinstance(stated, int) and stated > 0 else None


def _cached_hub_file(repo_id: str, filename: str) -> str | None:
    """The path of `filename` of a hub model in the local Hugging Face cache, without any network."""
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, filename)
    except Exception:  # an id that is not a valid repo id, a missing or odd cache
        return None
    return found if isinstance(found, str) else None


def sampled_sequence_tokens(config: TrainConfig, lengths: LengthCheck) -> int | None:
    """For GRPO, the longest sequence a step puts through: the longest prompt of the dataset (TRL does not cut
    prompts) and up to max_completion_length sampled tokens; None for the other objectives (their rows are cut at
    max_length). Counting max_length instead estimated 11.1 GB for SmolLM2-135M on the Spanish tickets (batch 4)
    where the measured peak was 3.6 GB (2026-12-07)."""
    # With train_on_inputs or packing the check counts no prompt apart (all zero): the whole rows bound them.
    prompts = lengths.prompt_tokens if any(lengths.prompt_tokens) else lengths.tokens
    if config.objective != "grpo" or not prompts:
        return None
    return max(prompts) + config.max_completion_length
