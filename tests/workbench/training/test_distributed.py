"""A run across processes: DDP where it fits one device, FSDP where it does not (from the memory estimate); the
accelerate configs pass accelerate's own reader and launcher checks; on several GPUs a run that does not fit one
gets its config file and the queue launches with it."""

from __future__ import annotations

import json

import pytest
import yaml
from accelerate.commands.config.config_args import ClusterConfig
from accelerate.commands.launch import _validate_launch_command, launch_command_parser

from workbench import paths
from workbench.data import repository
from workbench.jobs import devices, queue, registry
from workbench.models.presets import ModelShape
from workbench.system import DeviceInfo
from workbench.training import distributed, runs
from workbench.training.config import TrainConfig
from workbench.training.distributed import Placement, PlacementError, accelerate_config, choose_strategy
from workbench.training.memory import model_shape_for

SEVEN_B = ModelShape(
    parameters=6_738_415_616,
    hidden_size=4096,
    num_layers=32,
    vocab_size=32000,
    num_attention_heads=32,
    num_kv_heads=32,
    intermediate_size=11008,
)


def _launch_args(tmp_path, config: dict):
    file = tmp_path / "accelerate.yaml"
    file.write_text(yaml.safe_dump(config))
    loaded = ClusterConfig.from_yaml_file(file)  # accelerate's own reader: unknown keys are refused
    args = launch_command_parser().parse_args(["--config_file", str(file), "train.py"])
    args, _, _ = _validate_launch_command(args)  # and how `accelerate launch` reads it
    return loaded, args


def test_a_run_that_fits_one_gpu_is_data_parallel_else_fsdp():
    config = TrainConfig(dataset="x", base_model="demo")
    strategy, why = choose_strategy(config, model_shape_for("demo"), device_gb=80)
    assert strategy == "ddp" and "fits one 80 GB GPU" in why
    strategy, why = choose_strategy(config.with_updates(max_length=4096), SEVEN_B, device_gb=16)
    assert strategy == "fsdp" and "sharded over the processes" in why
    assert choose_strategy(config, SEVEN_B, device_gb=None)[0] == "ddp"  # no size to compare: the safe default
    assert choose_strategy(config, SEVEN_B, 16, asked="deepspeed") == ("deepspeed", "deepspeed as asked")


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_each_config_is_one_accelerate_reads_and_launches_from(tmp_path, strategy):
    config = TrainConfig(dataset="x", precision="bf16")
    placement = Placement(num_machines=2, processes_per_machine=4, main_process_ip="10.0.0.5")
    loaded, args = _launch_args(tmp_path, accelerate_config(config, placement, strategy, machine_rank=1))
    assert loaded.num_processes == 8 and loaded.num_machines == 2 and loaded.machine_rank == 1
    assert loaded.main_process_ip == "10.0.0.5" and loaded.mixed_precision == "bf16"
    assert args.num_processes == 8 and args.machine_rank == 1
    assert bool(args.use_fsdp) == (strategy == "fsdp") and bool(args.multi_gpu) == (strategy == "ddp")
    if strategy == "fsdp":
        assert args.fsdp_sharding_strategy == "FULL_SHARD" and args.fsdp_use_orig_params in (True, "true")


def test_qlora_keeps_to_its_constraints_and_bad_placements_are_named():
    qlora = TrainConfig(dataset="x", method="qlora", precision="bf16")
    assert distributed.fsdp_config(qlora)["fsdp_use_orig_params"] is False  # bitsandbytes' flat 4-bit storage
    with pytest.raises(PlacementError, match="stores its 4-bit weights in bf16 or fp16"):
        accelerate_config(qlora.with_updates(precision="fp32"), Placement(processes_per_machine=2), "fsdp")
    with pytest.raises(PlacementError, match="machine_rank: 2 — 0 to 1"):
        accelerate_config(qlora, Placement(num_machines=2), "ddp", machine_rank=2)
    with pytest.raises(PlacementError, match="num_machines: 0.*main_process_port: 80"):
        Placement(num_machines=0, main_process_port=80).validate()
    if not distributed.deepspeed_installed():
        with pytest.raises(PlacementError, match="deepspeed is not installed here"):
            Placement(strategy="deepspeed").validate()
    zero3 = distributed.deepspeed_config(qlora.with_updates(gradient_accumulation_steps=8))
    assert zero3["zero_stage"] == 3 and zero3["gradient_accumulation_steps"] == 8


def test_on_several_gpus_a_run_too_big_for_one_gets_fsdp_and_the_queue_launches_with_it(monkeypatch, fake_launch):
    repository.create_dataset("x", "alpaca", [{"instruction": f"q{i}", "input": "", "output": "a"} for i in range(6)])
    monkeypatch.setattr(devices, "gpu_count", lambda: 2)
    monkeypatch.setattr(
        "workbench.system.device_info", lambda: DeviceInfo(kind="cuda", name="tiny", count=2, total_gb=1e-4)
    )
    run_id = runs.create_run(TrainConfig(dataset="x", base_model="demo"), name="sharded")
    job = registry.get(runs.get_run(run_id)["job_id"])
    args = json.loads(job["args_json"])
    assert args["processes"] == 2 and args["strategy"] == "fsdp"
    written = yaml.safe_load(paths.in_home(args["accelerate_config"]).read_text())
    assert written["distributed_type"] == "FSDP" and written["num_processes"] == 2
    command = queue.worker_command(job)
    assert command[3:5] == ["--config_file", str(paths.in_home(args["accelerate_config"]))]
    assert "--multi_gpu" not in command


def test_the_cluster_folder_for_axolotl_has_its_config_and_scripts_and_a_readme_that_says_how(tmp_path):
    from workbench.training.cluster import ClusterError, export_cluster_job

    rows = [{"instruction": f"q{i}", "input": "", "output": "a"} for i in range(6)]
    repository.create_dataset("x", "alpaca", rows)
    config = TrainConfig(dataset="x", base_model="demo")
    placement = Placement(num_machines=3, processes_per_machine=8, main_process_ip="10.0.0.5")
    folder = export_cluster_job(config, "big", placement, tmp_path / "job", engine="axolotl", base_on_cluster="/m/b")
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(
        ["README.md", "run.json", "dataset.jsonl", "axolotl.yaml"]
        + [f"{kind}-{k}.{ext}" for k in range(3) for kind, ext in (("accelerate-machine", "yaml"), ("machine", "sh"))]
        + [f"axolotl-machine-{k}.sh" for k in range(3)]
    )
    readme = (folder / "README.md").read_text()
    assert "srun --nodes=3" in readme and "TCP" in readme and "import-adapter" in readme
    plan = json.loads((folder / "run.json").read_text())
    assert plan["config"]["base_model"] == "/m/b" and plan["config"]["auto_evaluate"] is False
    assert len((folder / "dataset.jsonl").read_text().splitlines()) == 6
    with pytest.raises(ClusterError, match="run name"):
        export_cluster_job(config, "bad name!", placement, tmp_path / "other")
    assert not (tmp_path / "other").exists()
