"""The TrainingArguments every objective shares, from a TrainConfig (each objective adds its own and builds
its TRL config class from them: SFTConfig, DPOConfig, ORPOConfig, KTOConfig)."""

from __future__ import annotations

import os
from pathlib import Path

from workbench.training.config import TrainConfig
from workbench.training.data import TrainingError

KEPT_CHECKPOINTS = 3  # save_total_limit


def common_arguments(config: TrainConfig, output_dir: Path, *, has_eval: bool, bf16: bool, fp16: bool) -> dict:
    """Keyword arguments of transformers' TrainingArguments. Every option that differs from the defaults is
    set on purpose."""
    # Heavy: torch and transformers load only in the worker.
    import torch
    from transformers.training_args import OptimizerNames

    cuda = torch.cuda.is_available()
    optim = config.optimizer
    if optim == "auto":
        optim = "paged_adamw_8bit" if config.method == "qlora" else "adamw_torch_fused" if cuda else "adamw_torch"
    known = {o.value for o in OptimizerNames}
    if optim not in known:
        raise TrainingError(
            f"optimizer: {optim!r} is not a transformers optimizer name; use 'auto' or one of "
            "adamw_torch, adamw_torch_fused, adamw_8bit, paged_adamw_8bit, adafactor, sgd."
        )
    warmup = config.warmup if config.warmup < 1 else int(config.warmup)  # a ratio below 1, else steps
    evaluate = "no" if not has_eval else "steps" if config.eval_steps > 0 else "epoch"
    save = "steps" if config.save_steps > 0 else "epoch"
    return dict(
        output_dir=str(output_dir),
        num_train_epochs=config.num_epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.per_device_batch_size,
        per_device_eval_batch_size=config.per_device_batch_size,
        # the effective batch set (batch × accumulation) is kept across processes
        gradient_accumulation_steps=config.accumulation_per_process(int(os.environ.get("WORLD_SIZE", "1"))),
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=warmup,
        weight_decay=config.weight_decay,
        # transformers 5 renamed gradient_checkpointing (the old name still works, with a FutureWarning)
        activation_checkpointing=config.gradient_checkpointing,
        bf16=bf16,  # TRL's configs turn bf16 on when unset, which fails on CPU: always say it
        fp16=fp16,
        use_cpu=not cuda,  # bf16 autocast on a CPU with native bf16 needs it; harmless otherwise
        optim=optim,
        seed=config.seed,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        eval_strategy=evaluate,
        eval_steps=config.eval_steps if evaluate == "steps" else None,
        prediction_loss_only=True,  # evaluation needs the loss only, not every logit of the validation set
        save_strategy=save,
        save_steps=config.save_steps if save == "steps" else 500,
        save_total_limit=KEPT_CHECKPOINTS,
        report_to="none",
        include_num_input_tokens_seen="non_padding",  # real tokens, for tokens/s
        dataset_num_proc=None,
        disable_tqdm=True,
        dataloader_pin_memory=cuda,
    )
