"""The GPU defaults on a CUDA GPU: fitted batch, TRL's fused LM head, padding-free packing. Skipped without CUDA."""

import pytest

from workbench.data import repository
from workbench.system import device_info
from workbench.training import runs
from workbench.training.autosize import fit_to_gpu
from workbench.training.config import default_config
from workbench.training.memory import model_shape_for

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def test_the_gpu_default_run_is_fitted_packed_and_uses_trls_fused_head(capsys):
    repository.ensure_samples()
    config = default_config(True).with_updates(
        dataset="informes-proyectos", base_model="demo", max_steps=12, eval_steps=6, auto_evaluate=False
    )
    fitted = fit_to_gpu(config, model_shape_for("demo"), device_info())
    # the demo model is tiny: any CUDA card takes the whole effective batch at once, without checkpointing
    assert fitted.per_device_batch_size == 4 and fitted.gradient_accumulation_steps == 1
    assert fitted.gradient_checkpointing is False and fitted.packing is True
    from workbench.training.worker import run_training

    run_id = runs.create_run(fitted, name="gpu-defaults")
    assert run_training(run_id, schedule_next=False) == "completed", runs.get_run(run_id)["error"]
    out = capsys.readouterr().out
    losses = [m["value"] for m in runs.run_metrics(run_id, ("loss",))]
    assert len(losses) >= 12 and losses[-1] < losses[0]
    assert runs.final_metrics(run_id)["gpu_memory_gb"] > 0
    assert "Loss: TRL's fused LM head" in out and "bf16 mixed" in out
