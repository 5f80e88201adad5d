"""GGUF conversion: time and size of each quantization against f32, measured in the same run.

    python bench/gguf_export.py [--shape smollm2-135m|demo]

A random-weight model of SmolLM2-135M's shape (only shapes matter for conversion speed and size; nothing is
downloaded) with the demo tokenizer is saved like a merged export, then converted by llama.cpp's own
converter exactly as `export-gguf` does (workbench.publish.gguf.convert_model). The K-quants need
llama-cpp-python and are skipped without it. The converters are fetched into the cache on first use.
"""

from __future__ import annotations

import argparse
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
        tie_word_embeddings=True,
    ),
    "demo": dict(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2
    ),
}


def build_model(shape: str, folder: Path) -> Path:
    import shutil

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from workbench.models.demo import build_demo_model

    tokenizer_dir = build_demo_model(folder.parent / "demo")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=3000, max_position_embeddings=2048, eos_token_id=2, **SHAPES[shape])
    LlamaForCausalLM(config).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        if (tokenizer_dir / name).is_file():
            shutil.copyfile(tokenizer_dir / name, folder / name)
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=SHAPES, default="smollm2-135m")
    args = parser.parse_args()
    import os

    from workbench.publish import gguf, llama_cpp

    with tempfile.TemporaryDirectory(prefix="bench-gguf-") as scratch:
        os.environ["WORKBENCH_HOME"] = str(Path(scratch) / "home")
        llama_cpp.converter(print)
        merged = build_model(args.shape, Path(scratch) / "merged")
        kinds = ["f32", "f16", "q8_0"] + (list(gguf.K_QUANTS[:1]) if gguf.has_llama_cpp() else [])
        results = {}
        for kind in kinds:
            target = Path(scratch) / f"model-{kind}.gguf"
            started = time.perf_counter()
            gguf.convert_model(merged, target, kind, "f32", "bench", lambda line: None)
            results[kind] = (time.perf_counter() - started, target.stat().st_size)
    base_time, base_size = results["f32"]
    print(f"\nshape {args.shape}; baseline f32: {base_time:.1f} s, {base_size / 1e6:.1f} MB")
    print(f"{'quantization':<14}{'seconds':>9}{'time vs f32':>13}{'MB':>9}{'size vs f32':>13}")
    for kind, (seconds, size) in results.items():
        print(f"{kind:<14}{seconds:>9.1f}{seconds / base_time:>12.2f}x{size / 1e6:>9.1f}{size / base_size:>12.2f}x")
    if not gguf.has_llama_cpp():
        print("(q4_K_M skipped: llama-cpp-python is not installed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
