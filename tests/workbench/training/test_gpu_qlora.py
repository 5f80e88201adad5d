"""QLoRA on a CUDA GPU: a random-weight model of SmolLM2-135M's real shape, trained 4-bit through the worker.

Skipped without CUDA. Prints the measured speed and peak memory (run with -s to see them).
"""

import shutil

import pytest

from workbench.data import repository
from workbench.training import runs
from workbench.training.config import TrainConfig

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

SMOLLM2_135M_SHAPE = dict(
    hidden_size=576,
    intermediate_size=1536,
    num_hidden_layers=30,
    num_attention_heads=9,
    num_key_value_heads=3,
    max_position_embeddings=2048,
    vocab_size=49152,
    tie_word_embeddings=True,
)


@pytest.fixture
def real_shape_model(tmp_path, demo_model_dir):
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path / "smollm2-shape"
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**SMOLLM2_135M_SHAPE))
    model.save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        if (demo_model_dir / name).exists():
            shutil.copy(demo_model_dir / name, folder / name)
    return folder


def test_qlora_run_trains_in_4bit_and_reports_speed_and_memory(real_shape_model):
    repository.ensure_samples()
    config = TrainConfig(
        dataset="informes-proyectos",
        base_model=str(real_shape_model),
        method="qlora",
        max_steps=30,
        eval_steps=15,
        per_device_batch_size=4,
        learning_rate=1e-3,
    )
    from workbench.training.worker import run_training

    run_id = runs.create_run(config, name="gpu-qlora")
    assert run_training(run_id, schedule_next=False) == "completed", runs.get_run(run_id)["error"]
    metrics = runs.final_metrics(run_id)
    losses = [m["value"] for m in runs.run_metrics(run_id, ("loss",))]
    assert losses[-1] < losses[0]
    assert 0 < metrics["gpu_memory_gb"] < 4
    print(
        f"\nQLoRA, SmolLM2-135M shape, batch 4: {metrics['tokens_per_second']:.0f} tokens/s, "
        f"peak GPU memory {metrics['gpu_memory_gb']:.2f} GB, loss {losses[0]:.3f} -> {losses[-1]:.3f}"
    )
