"""FSDP through the accelerate config the workbench writes (training/distributed.py), on a CUDA GPU: the worker
launched as `accelerate launch --config_file` trains LoRA and QLoRA and saves one adapter. On the one GPU a
session is lent this proves the config, the sharded load and the save; across GPUs the same config shards.

Skipped without CUDA (bench/gpu_session.sh runs it)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from workbench import paths
from workbench.data import repository
from workbench.training import runs
from workbench.training.config import TrainConfig
from workbench.training.distributed import Placement, accelerate_config

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_a_run_under_the_generated_fsdp_config_trains_and_saves_its_adapter(method, tmp_path):
    rows = [{"instruction": f"Repite: {w}", "input": "", "output": w} for w in ("uno", "dos", "tres", "cuatro")] * 4
    repository.create_dataset("words", "alpaca", rows)
    config = TrainConfig(
        dataset="words", base_model="demo", method=method, precision="bf16", max_steps=4, auto_evaluate=False
    )
    run_id = runs.create_run(config, name=f"fsdp-{method}", processes=1)
    job_id = runs.get_run(run_id)["job_id"]
    file = tmp_path / "fsdp.yaml"
    file.write_text(yaml.safe_dump(accelerate_config(config, Placement(main_process_port=29517), "fsdp")))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--config_file",
            str(file),
            "--module",
            "workbench.jobs.worker",
            str(job_id),
        ],
        cwd=ROOT,
        env={**os.environ, "WORKBENCH_HOME": str(paths.home())},
        capture_output=True,
        text=True,
        timeout=600,
    )
    final = runs.get_run(run_id)
    assert final["status"] == "completed", (done.stdout[-3000:], done.stderr[-3000:])
    assert (paths.in_home(final["adapter_dir"]) / "adapter_model.safetensors").is_file()
    print(f"FSDP {method}: {len(runs.run_metrics(run_id, ('loss',)))} steps logged")
