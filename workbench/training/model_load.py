"""Loading a base model and tokenizer for LoRA / QLoRA training, and the LoRA settings PEFT applies.

- LoRA: the base in bf16/fp16 on a GPU (fp32 on CPU); only the small adapter matrices train.
- QLoRA: the base quantized to 4-bit NF4 with double quantization (bitsandbytes), computing in
  bf16/fp16, prepared with `peft.prepare_model_for_kbit_training`; it needs a CUDA GPU.
The tokenizer comes from `loading.load_tokenizer` (shared and cached), so it is copied before it is
changed here (chat template, pad token).
"""

from __future__ import annotations

import copy
import importlib.util
import os
from pathlib import Path

from workbench.models import demo
from workbench.models.loading import ModelLoadError, is_local, load_tokenizer, resolve_base
from workbench.system import cpu_has_native_bf16
from workbench.training.config import TrainConfig
from workbench.training.data import TrainingError

QLORA_NEEDS_CUDA = (
    "QLoRA needs a CUDA GPU: bitsandbytes' 4-bit NF4 kernels do not run here. Choose method "
    "'lora' to train on this machine (use the CPU preset on a machine without a GPU)."
)


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def precision_for(config: TrainConfig):
    """(bf16, fp16, dtype): the mixed-precision flags for SFTConfig and the dtype to load the base in.

    CPU: 'auto' is bf16 autocast over fp32 weights where the CPU has native bf16 (AVX512-BF16/AMX: about
    2x faster steps at the same loss, bench/train_throughput.py), else fp32; 'bf16' asks for it anyway;
    'fp16' and 'fp32' train in fp32. CUDA: 'auto' is bf16 where the GPU supports it (Ampere and newer),
    else fp16; an explicit 'bf16' on a GPU without it is an error.
    """
    import torch

    wanted = config.precision
    if not cuda_available():
        native = cpu_has_native_bf16()
        if wanted == "bf16" and not native:
            raise TrainingError(
                "precision: this CPU has no native bf16 (AVX512-BF16 or AMX), so bf16 would run "
                "emulated. Set precision to 'auto' (fp32 on this CPU) or 'fp32'."
            )
        return wanted in ("auto", "bf16") and native, False, torch.float32
    bf16_ok = torch.cuda.is_bf16_supported()
    if wanted == "auto":
        wanted = "bf16" if bf16_ok else "fp16"
    if wanted == "bf16":
        if not bf16_ok:
            raise TrainingError(
                f"This GPU ({torch.cuda.get_device_name()}) does not support bf16: set precision to 'auto' or 'fp16'."
            )
        return True, False, torch.bfloat16
    if wanted == "fp16":
        return False, True, torch.float16
    return False, False, torch.float32


def attention_implementation(dtype) -> str | None:
    """The fastest attention installed: FlashAttention-2 on a GPU in 16-bit where the flash-attn package is
    there, else None (transformers' default, SDPA where the model has it). Both keep packed rows apart:
    packing is padding-free, one row of several sequences told apart by their position_ids."""

    import torch

    if cuda_available() and dtype in (torch.bfloat16, torch.float16) and importlib.util.find_spec("flash_attn"):
        return "flash_attention_2"
    return None


def peft_config_for(config: TrainConfig):
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.resolved_target_modules(),
        bias="none",
        task_type="CAUSAL_LM",
    )


def training_tokenizer(config: TrainConfig):
    """A private copy of the base's tokenizer, with the chat template the run uses and a pad token."""
    tokenizer = copy.deepcopy(load_tokenizer(config.base_model, trust_remote_code=config.trust_remote_code))
    if config.chat_template == "chatml":
        tokenizer.chat_template = demo.CHATML_TEMPLATE
    if tokenizer.pad_token is None:
        # Padding positions are masked out of attention and loss, so reusing another token is safe.
        fallback = tokenizer.unk_token or tokenizer.eos_token
        if fallback is None:
            tokenizer.add_special_tokens({"pad_token": "<|pad|>"})
        else:
            tokenizer.pad_token = fallback
    return tokenizer


def sharded_by_accelerate() -> bool:
    """Whether `accelerate launch` runs this process under FSDP or DeepSpeed (training/distributed.py)."""
    return any(
        os.environ.get(name, "").lower() == "true" for name in ("ACCELERATE_USE_FSDP", "ACCELERATE_USE_DEEPSPEED")
    )


def load_for_training(config: TrainConfig):
    """(model, tokenizer) ready for SFTTrainer with a LoRA peft_config. Raises TrainingError/ModelLoadError."""
    if config.method == "qlora" and not cuda_available():
        raise TrainingError(QLORA_NEEDS_CUDA)
    _check_local_path(config.base_model)
    resolved = resolve_base(config.base_model)
    tokenizer = training_tokenizer(config)
    _, _, dtype = precision_for(config)

    import torch
    from transformers import AutoModelForCausalLM

    kwargs = {"dtype": dtype, "trust_remote_code": config.trust_remote_code, "use_safetensors": True}
    attention = attention_implementation(dtype)
    if attention:
        kwargs["attn_implementation"] = attention
    if config.method == "qlora":
        from transformers import BitsAndBytesConfig

        sharded = sharded_by_accelerate()
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
            # FSDP and ZeRO-3 shard flat tensors of one dtype: the 4-bit weights are stored in the compute dtype
            **({"bnb_4bit_quant_storage": dtype} if sharded else {}),
        )
        if not sharded:  # FSDP/ZeRO-3 place the shards themselves
            kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    try:
        model = AutoModelForCausalLM.from_pretrained(resolved, **kwargs)
    except torch.cuda.OutOfMemoryError:
        raise
    except (OSError, ValueError, ImportError, KeyError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = f"the folder {resolved}" if is_local(resolved) else repr(resolved)
        raise ModelLoadError(
            f"The model weights of {where} cannot be loaded ({type(exc).__name__}: {detail}). "
            "Check that the folder holds config.json and the *.safetensors weights; models "
            "with custom code need 'trust remote code'."
        ) from exc

    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))  # only when a pad token had to be added
    model.config.use_cache = False  # the KV cache is for generation; training does not use it
    if config.method == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.gradient_checkpointing)
    return model, tokenizer


def continue_adapter(model, folder: Path):
    """The base with a finished run's adapter on it, trainable: a run that goes on from another's adapter."""
    from peft import PeftModel

    from workbench.models.loading import check_adapter_files

    return PeftModel.from_pretrained(model, str(check_adapter_files(folder)), is_trainable=True)


def _check_local_path(base: str) -> None:
    """A base written as a path ('/…', './…', '~/…') that is not a folder: say so, not 'hub unreachable'."""
    text = str(base).strip()
    if not text.startswith(("/", "./", "../", "~", ".\\")):
        return
    path = Path(text).expanduser()
    if not path.is_dir():
        raise ModelLoadError(
            f"Base model folder {path} does not exist. Pick the demo model, a prepared "
            "model, or a folder that holds config.json, the weights and the tokenizer files."
        )
