"""How one run spreads over processes and machines, as accelerate configs: data parallel (DDP, every process a
whole copy of the model) where the model fits one device, else FSDP, or DeepSpeed ZeRO-3 where `deepspeed` is
installed and asked for (the base's weights sharded over the processes), chosen from the memory estimate.

The configs are accelerate's own YAML (`accelerate launch --config_file`), checked by loading them with
accelerate's own reader in the tests; nothing here launches anything. A machine without CUDA runs accelerate's
torch.distributed launcher too (`distributed_type: MULTI_GPU`, which is torchrun's data parallel): each process
trains on its CPU over gloo (accelerate's `use_cpu` path is MPI only).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from workbench.errors import WorkbenchError
from workbench.training.config import TrainConfig
from workbench.training.memory import ModelShape, estimate_memory

STRATEGIES = ("auto", "ddp", "fsdp", "deepspeed")
DISTRIBUTED_TYPE = {"ddp": "MULTI_GPU", "fsdp": "FSDP", "deepspeed": "DEEPSPEED"}


class PlacementError(WorkbenchError, ValueError):
    """Processes or machines that cannot be set up as asked; the message says what to change."""


@dataclass(frozen=True)
class Placement:
    """Where one run trains: machines, processes on each, how the model is spread, and where they meet."""

    num_machines: int = 1
    processes_per_machine: int = 1
    strategy: str = "auto"
    main_process_ip: str = "127.0.0.1"
    main_process_port: int = 29500

    @property
    def total_processes(self) -> int:
        return self.num_machines * self.processes_per_machine

    def validate(self) -> Placement:
        problems = []
        if not 1 <= self.num_machines <= 1024:
            problems.append(f"num_machines: {self.num_machines} — 1 to 1024.")
        if not 1 <= self.processes_per_machine <= 64:
            problems.append(f"processes_per_machine: {self.processes_per_machine} — 1 to 64 (one per GPU).")
        if self.strategy not in STRATEGIES:
            problems.append(f"strategy: {self.strategy!r} — one of {', '.join(STRATEGIES)}.")
        if not 1024 <= self.main_process_port <= 65535:
            problems.append(f"main_process_port: {self.main_process_port} — a free port, 1024 to 65535.")
        if not self.main_process_ip.strip():
            problems.append("main_process_ip: empty — the address machine 0 is reached at from the others.")
        if self.strategy == "deepspeed" and not deepspeed_installed():
            problems.append("strategy: deepspeed is not installed here — `pip install deepspeed`, or use fsdp.")
        if problems:
            raise PlacementError(" ".join(problems))
        return self


def deepspeed_installed() -> bool:
    return importlib.util.find_spec("deepspeed") is not None


def choose_strategy(
    config: TrainConfig, shape: ModelShape, device_gb: float | None, asked: str = "auto"
) -> tuple[str, str]:
    """(strategy, why in words): DDP where one device holds the run, FSDP where it does not."""
    if asked != "auto":
        return asked, f"{asked} as asked"
    if device_gb is None:
        return "ddp", "data parallel: each process holds the whole model (no GPU size to compare with)"
    per_device = estimate_memory(config, shape).total_gb
    if per_device <= device_gb:
        return "ddp", f"data parallel: the run needs about {per_device:.1f} GB, which fits one {device_gb:.0f} GB GPU"
    return "fsdp", (
        f"FSDP: the run needs about {per_device:.1f} GB, more than one {device_gb:.0f} GB GPU, so the base's weights "
        "are sharded over the processes"
    )


def mixed_precision(config: TrainConfig) -> str:
    if config.precision == "fp32":
        return "no"
    return "fp16" if config.precision == "fp16" else "bf16"


def accelerate_config(config: TrainConfig, placement: Placement, strategy: str, machine_rank: int = 0) -> dict:
    """accelerate's config (the YAML of `accelerate config`) for machine `machine_rank` of `placement`."""
    placement.validate()
    if strategy not in DISTRIBUTED_TYPE:
        raise PlacementError(f"strategy: {strategy!r} — one of {', '.join(DISTRIBUTED_TYPE)} (auto is chosen first).")
    if not 0 <= machine_rank < placement.num_machines:
        raise PlacementError(f"machine_rank: {machine_rank} — 0 to {placement.num_machines - 1}.")
    if config.method == "qlora" and strategy != "ddp" and config.precision == "fp32":
        raise PlacementError("QLoRA sharded by FSDP or ZeRO-3 stores its 4-bit weights in bf16 or fp16: set precision.")
    result: dict = {
        "compute_environment": "LOCAL_MACHINE",
        "debug": False,
        # one process: plain, unless sharding is asked for (FSDP/ZeRO-3 on one GPU still offload and save alike)
        "distributed_type": DISTRIBUTED_TYPE[strategy] if placement.total_processes > 1 or strategy != "ddp" else "NO",
        "downcast_bf16": "no",
        "machine_rank": machine_rank,
        "main_process_ip": placement.main_process_ip,
        "main_process_port": placement.main_process_port,
        "main_training_function": "main",
        "mixed_precision": mixed_precision(config),
        "num_machines": placement.num_machines,
        "num_processes": placement.total_processes,
        "rdzv_backend": "static",
        "same_network": True,
        "use_cpu": False,
    }
    if strategy == "fsdp":
        result["fsdp_config"] = fsdp_config(config)
    elif strategy == "deepspeed":
        result["deepspeed_config"] = deepspeed_config(config)
    return result


def fsdp_config(config: TrainConfig) -> dict:
    """FSDP for a LoRA run (PEFT's recipe): each decoder layer a unit, full sharding, the base loaded once on
    rank 0 and synchronised; with QLoRA the original parameters are not kept (bitsandbytes' flat storage)."""
    return {
        "fsdp_version": 1,
        "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",  # the model's own `_no_split_modules`
        "fsdp_backward_prefetch": "BACKWARD_PRE",
        "fsdp_cpu_ram_efficient_loading": True,
        "fsdp_forward_prefetch": False,
        "fsdp_offload_params": False,
        "fsdp_sharding_strategy": "FULL_SHARD",
        "fsdp_state_dict_type": "SHARDED_STATE_DICT",
        "fsdp_sync_module_states": True,
        "fsdp_use_orig_params": config.method != "qlora",
    }


def deepspeed_config(config: TrainConfig) -> dict:
    """ZeRO-3: parameters, gradients and optimizer state sharded; the adapter saved as 16-bit weights."""
    return {
        "zero_stage": 3,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "gradient_clipping": 1.0,
        "offload_optimizer_device": "none",
        "offload_param_device": "none",
        "zero3_init_flag": True,
        "zero3_save_16bit_model": True,
    }
