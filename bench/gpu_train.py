"""Training on a CUDA GPU: speed and peak memory of LoRA and QLoRA, against fp32 LoRA and the memory estimate.

    python bench/gpu_train.py [--steps 30] [--shapes smollm2-135m,llama-3.2-1b] [--big] [--vs-trl SHAPE]

Each base is a random-weight model of a real model's shape (no downloads: only shapes matter for speed
and memory), saved to disk in bf16 and trained through the real worker (in this process) on the sample
dataset with the demo tokenizer. Speed ratios are against the fp32 LoRA baseline of the same shape,
measured in the same run. "estimate" is what the Train page predicts (workbench.training.memory) for
the same settings; "peak" is torch.cuda.max_memory_allocated for that run. --big adds a Llama-2-7B
shape with QLoRA only, the flagship "7B on one consumer card" case.

`--vs-trl SHAPE` (default llama-3.2-1b; "none" skips it) then runs bench/train_throughput.py's three
variants on that shape, in bf16 LoRA and in QLoRA: (a) TRL's defaults, (b) TRL tuned by flags (no
checkpointing, packing), (c) the workbench's GPU defaults fitted to the card (workbench.training.autosize),
one epoch of the sample dataset each, with MFU against the card's dense bf16 peak (4·N FLOPs per trained
token for LoRA: the frozen weights get no gradient).
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SHAPES = {
    "smollm2-135m": dict(
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        vocab_size=49152,
        tie_word_embeddings=True,
    ),
    "llama-3.2-1b": dict(
        hidden_size=2048,
        intermediate_size=8192,
        num_hidden_layers=16,
        num_attention_heads=32,
        num_key_value_heads=8,
        vocab_size=128256,
        tie_word_embeddings=True,
    ),
    "llama-2-7b": dict(
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        vocab_size=32000,
        tie_word_embeddings=False,
    ),
}

VARIANTS = {
    "baseline: LoRA fp32 (recipe, precision fp32)": {"precision": "fp32"},
    "LoRA bf16 (the GPU recipe)": {},
    "LoRA bf16, no gradient checkpointing": {"gradient_checkpointing": False},
    "QLoRA 4-bit (recipe, method qlora)": {"method": "qlora"},
}
BIG_VARIANTS = {"QLoRA 4-bit (recipe, method qlora)": {"method": "qlora"}}


def build_base(name: str, folder: Path, tokenizer_dir: Path) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(max_position_embeddings=4096, **SHAPES[name])
    with torch.device("cuda"):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(folder)
    del model
    _free()
    for file in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json"):
        if (tokenizer_dir / file).exists():
            shutil.copy(tokenizer_dir / file, folder / file)
    return folder


def measure(base: Path, steps: int, updates: dict) -> dict:
    import torch

    from workbench.training import runs
    from workbench.training.config import TrainConfig
    from workbench.training.memory import estimate_memory, shape_from_folder
    from workbench.training.worker import run_training

    config = TrainConfig(
        dataset="informes-proyectos", base_model=str(base), max_steps=steps, eval_steps=0, auto_evaluate=False
    ).with_updates(**updates)
    estimate = estimate_memory(config, shape_from_folder(base)).total_gb
    _free()
    torch.cuda.reset_peak_memory_stats()
    run_id = runs.create_run(config)
    started = time.perf_counter()
    status = run_training(run_id, schedule_next=False)
    elapsed = time.perf_counter() - started
    if status != "completed":
        return {"error": runs.get_run(run_id)["error"]}
    speeds = [m["value"] for m in runs.run_metrics(run_id, ("tokens_per_second",))]
    steady = speeds[len(speeds) // 3 :] or speeds  # skip warm-up steps
    losses = [m["value"] for m in runs.run_metrics(run_id, ("loss",))]
    return {
        "speed": statistics.median(steady),
        "elapsed": elapsed,
        "estimate": estimate,
        "peak": torch.cuda.max_memory_allocated() / 1e9,
        "reserved": torch.cuda.max_memory_reserved() / 1e9,
        "loss": (losses[0], losses[-1]) if losses else None,
    }


def _free() -> None:
    import torch

    gc.collect()
    torch.cuda.empty_cache()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--shapes", default="smollm2-135m,llama-3.2-1b")
    parser.add_argument("--big", action="store_true", help="also QLoRA on a Llama-2-7B shape")
    parser.add_argument("--vs-trl", default="llama-3.2-1b", help="shape for the TRL comparison ('none': skip)")
    parser.add_argument("--peak-tflops", type=float, help="the card's dense bf16 peak (default: from its name)")
    args = parser.parse_args()
    os.environ["WORKBENCH_HOME"] = tempfile.mkdtemp(prefix="wb-gpu-bench-")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    if not torch.cuda.is_available():
        print("No CUDA GPU: nothing to measure (bench/train_throughput.py measures the CPU).")
        return 0
    from workbench.data import repository
    from workbench.models.demo import build_demo_model

    repository.ensure_samples()
    scratch = Path(os.environ["WORKBENCH_HOME"]) / "bases"
    tokenizer_dir = build_demo_model(scratch / "demo")
    plan = [(shape, VARIANTS) for shape in args.shapes.split(",") if shape]
    if args.big:
        plan.append(("llama-2-7b", BIG_VARIANTS))
    print(
        f"{torch.cuda.get_device_name()}, torch {torch.__version__}, {args.steps} steps each, "
        "batch 1 x 4 accumulation, max_length 1024, packing"
    )
    for shape, variants in plan:
        base = build_base(shape, scratch / shape, tokenizer_dir)
        print(f"\n{shape}")
        baseline = None
        for label, updates in variants.items():
            result = measure(base, args.steps, updates)
            if "error" in result:
                print(f"  {label:44} failed: {result['error']}")
                continue
            baseline = baseline or result["speed"]
            loss = result["loss"]
            print(
                f"  {label:44} {result['speed']:9,.0f} tok/s {result['speed'] / baseline:5.2f}x  "
                f"peak {result['peak']:5.2f} GB (reserved {result['reserved']:5.2f})  "
                f"estimate {result['estimate']:5.2f} GB  "
                f"loss {loss[0]:.2f}->{loss[1]:.2f}  ({result['elapsed']:.0f} s wall)"
            )
        shutil.rmtree(base)
    if args.vs_trl != "none":
        versus_trl(args.vs_trl, scratch, tokenizer_dir, args.peak_tflops)
    return 0


# Dense bf16 tensor-core peaks (no sparsity), by a part of the name torch reports.
PEAK_TFLOPS = {
    "H200": 989,
    "H100 PCIe": 756,
    "H100": 989,
    "A100": 312,
    "L40S": 362,
    "L4": 121,
    "A10": 125,
    "RTX 4090": 165,
    "RTX 3090": 71,
}


def peak_flops(name: str, override: float | None) -> float | None:
    if override:
        return override * 1e12
    found = next((tflops for part, tflops in PEAK_TFLOPS.items() if part in name), None)
    return found * 1e12 if found else None


def versus_trl(shape: str, scratch: Path, tokenizer_dir: Path, override: float | None) -> None:
    """(a) TRL default, (b) TRL tuned, (c) the workbench on one shape, bf16 LoRA then QLoRA, with MFU."""
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import train_throughput

    peak = peak_flops(torch.cuda.get_device_name(), override)
    base = build_base(shape, scratch / f"{shape}-vs-trl", tokenizer_dir)
    for method in ("lora", "qlora"):
        home, _, _ = train_throughput.prepare_home(str(base), None)
        print(
            f"\n{shape}, {method}: TRL against the workbench, one epoch of the sample dataset"
            + ("" if peak else " (peak FLOPs of this card unknown: pass --peak-tflops for MFU)"),
            flush=True,
        )
        results = train_throughput.run_variants(home, str(base), 1.0, method, peak_flops=peak)
        line = train_throughput.summary_line(results)
        if peak:
            c = results["c"]
            line += f" mfu_workbench={train_throughput.mfu(c['tokens_per_second'], c['parameters'], peak):.3f}"
        print(line, flush=True)
    shutil.rmtree(base)


if __name__ == "__main__":
    raise SystemExit(main())
