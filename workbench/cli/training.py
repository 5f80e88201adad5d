"""`python -m workbench train ...` (one run, or a sweep: cli/experiments.py) and `python -m workbench runs
list|show|cancel|resume|delete|import-adapter ...`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from workbench.cli import evaluation as evaluation_cli
from workbench.cli import experiments as experiments_cli
from workbench.errors import WorkbenchError
from workbench.evaluation import jobs as eval_jobs
from workbench.jobs.devices import gpu_count
from workbench.system import cpu_has_native_bf16, device_info
from workbench.training import runs
from workbench.training.autosize import fit_base_to_gpu
from workbench.training.config import (
    ConfigError,
    TrainConfig,
    default_config,
    describe_cpu_preset,
    describe_placement,
    with_objective,
)
from workbench.training.data import length_check
from workbench.training.export import config_from_yaml


def add_parsers(commands) -> None:
    train = commands.add_parser("train", help="queue a training run (it starts when the GPU is free)")
    train.add_argument("--dataset", help="dataset name")
    train.add_argument("--base", help="base model: demo, a prepared model, a local folder or a hub id")
    train.add_argument("--config", type=Path, help="a YAML config exported from the app or `runs show`")
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one setting, e.g. --set lora_r=16 --set max_steps=50",
    )
    train.add_argument("--name", help="run name (default: dataset-base-time)")
    train.add_argument("--wait", action="store_true", help="stay until the run ends, printing progress")
    experiments_cli.add_sweep_arguments(train)
    cluster = train.add_argument_group("a cluster job instead (a folder to copy to the machines)")
    cluster.add_argument("--cluster", type=Path, metavar="DIR", help="write the cluster folder here; nothing is queued")
    cluster.add_argument("--machines", type=int, default=1, help="machines (default 1)")
    cluster.add_argument("--processes-per-machine", type=int, default=1, help="processes on each, one per GPU")
    cluster.add_argument("--main-ip", default="127.0.0.1", help="address of machine 0 as the others reach it")
    cluster.add_argument("--port", type=int, default=29500, help="rendezvous port on machine 0 (default 29500)")
    cluster.add_argument(
        "--strategy", choices=("auto", "ddp", "fsdp", "deepspeed"), default="auto", help="how the model is spread"
    )
    cluster.add_argument("--gpu-memory", type=float, metavar="GB", help="with --strategy auto: GB of one GPU there")
    cluster.add_argument("--engine", choices=("workbench", "axolotl"), default="workbench", help="who trains there")
    cluster.add_argument("--base-on-cluster", default="", metavar="PATH", help="the base's folder or id there")
    train.set_defaults(handler=_train)

    runs_parser = commands.add_parser("runs", help="list, show, cancel, resume or delete runs")
    sub = runs_parser.add_subparsers(dest="runs_command", required=True, metavar="ACTION")
    sub.add_parser("list", help="every run with status and losses").set_defaults(handler=_list)
    for action, text in (
        ("show", "a run's config, progress and final metrics"),
        ("cancel", "stop a queued or running run (the adapter so far is kept)"),
        ("resume", "continue an interrupted/failed/cancelled run from its last checkpoint"),
        ("delete", "delete a run, its checkpoints and its adapter"),
    ):
        parser = sub.add_parser(action, help=text)
        parser.add_argument("run", help="run id or name")
        if action == "cancel":
            parser.add_argument("--keep-best", action="store_true", help="keep the best weights")
        if action == "delete":
            parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        parser.set_defaults(handler=globals()[f"_{action}"])
    bring = sub.add_parser(
        "import-adapter", help="bring in a PEFT LoRA adapter trained elsewhere as a run (status imported)"
    )
    bring.add_argument("folder", help="the adapter folder (adapter_config.json and adapter_model.safetensors)")
    bring.add_argument("--base", required=True, help="the base it was trained on: a prepared model, a folder or demo")
    bring.add_argument("--name", default="", help="run name (default: the folder's name)")
    bring.add_argument("--dataset", default="", help="a dataset whose held-out rows evaluate it")
    bring.set_defaults(handler=_import_adapter)


def parse_value(text: str):
    """`--set` values: JSON where it parses (numbers, true/false, null), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def build_config(args) -> TrainConfig:
    has_gpu = device_info().kind == "cuda"
    if args.config:
        config = config_from_yaml(args.config.read_text(encoding="utf-8"), str(args.config))
    else:
        config = default_config(has_gpu)
        if not has_gpu:
            print(f"No GPU: using the CPU preset ({describe_cpu_preset(cpu_has_native_bf16())}).")
    updates = {}
    for pair in args.set:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError([f"--set {pair!r}: expected KEY=VALUE"])
        updates[key.strip()] = parse_value(value)
    if args.dataset:
        updates["dataset"] = args.dataset
    if args.base:
        updates["base_model"] = args.base
    if "objective" in updates and not args.config:
        # the objective's own learning rate and epochs, unless given too
        config = with_objective(config, str(updates["objective"]), config, keep=set(updates))
    config = TrainConfig.from_dict({**config.to_dict(), **updates}).validate()
    sized = {"per_device_batch_size", "gradient_accumulation_steps", "gradient_checkpointing"}
    if not args.config and has_gpu and not sized & set(updates):
        config = _fit_to_gpu(config)
    return config


def _fit_to_gpu(config: TrainConfig) -> TrainConfig:
    """The GPU recipe with the batch and checkpointing this card allows (workbench.training.autosize)."""
    fitted = fit_base_to_gpu(config, device_info())
    print(
        f"GPU: batch {fitted.per_device_batch_size} x {fitted.gradient_accumulation_steps} accumulation, "
        f"gradient checkpointing {'on' if fitted.gradient_checkpointing else 'off'} (from the memory estimate)."
    )
    return fitted


def _train(args) -> int:
    config = build_config(args)
    _say_lengths(config)
    if experiments_cli.is_sweep(args):
        return experiments_cli.start_sweep(args, config)
    if args.cluster:
        return _export_cluster(args, config)
    if config.processes(gpu_count()) > 1:
        print(describe_placement(config, gpu_count()))
    run_id = runs.start_run(config, args.name)
    run = runs.get_run(run_id)
    print(
        f"Run {run['name']} (id {run_id}) {run['status']}. Follow it in the app or with "
        f"`python -m workbench runs show {run_id}`."
    )
    if not args.wait:
        return 0
    final = runs.wait_for(run_id, on_update=_printer())
    print(f"Run {final['name']} {final['status']}." + (f"\n{final['error']}" if final.get("error") else ""))
    if final["adapter_dir"]:
        print(f"Adapter: {final['adapter_dir']}")
    if final["status"] != "completed":
        return 1
    evaluation = eval_jobs.evaluation_after_training(final)
    if evaluation is None:
        return 0
    print(
        f"Evaluating base and adapter on {evaluation['split']} rows (job {evaluation['id']}); Ctrl+C stops "
        "waiting, not the evaluation.",
        flush=True,
    )
    return evaluation_cli.follow(final, evaluation["id"])


def _export_cluster(args, config: TrainConfig) -> int:
    from workbench.training import cluster, distributed
    from workbench.training.memory import model_shape_for

    placement = distributed.Placement(
        args.machines, args.processes_per_machine, args.strategy, args.main_ip, args.port
    ).validate()
    strategy, why = distributed.choose_strategy(
        config, model_shape_for(config.base_model), args.gpu_memory, asked=args.strategy
    )
    name = args.name or f"{config.dataset}-cluster"
    out = cluster.export_cluster_job(
        config,
        name,
        placement,
        args.cluster,
        strategy=strategy,
        engine=args.engine,
        base_on_cluster=args.base_on_cluster,
    )
    print(
        f"Cluster job {name}: {placement.num_machines} machine(s) × {placement.processes_per_machine} "
        f"process(es), {why}."
    )
    print(f"Wrote {out}: copy it to each machine and run machine-<k>.sh there (its README.md says how).")
    return 0


def _say_lengths(config: TrainConfig) -> None:
    """Rows that training will cut or drop, said before the run starts."""
    try:
        message = length_check(config).message()
    except (WorkbenchError, ValueError):
        return  # the run's own checks say what is wrong with the dataset or the base
    if message:
        print(f"Note: {message}", flush=True)


def _printer():
    last = {"step": None}

    def show(run: dict) -> None:
        progress = runs.run_progress(run)
        step = progress.get("step")
        if step is not None and step != last["step"]:
            last["step"] = step
            metrics = runs.final_metrics(run["id"])
            loss = f" loss {metrics['loss']:.4f}" if "loss" in metrics else ""
            print(f"  step {step}/{progress.get('max_steps', '?')}{loss}", flush=True)

    return show


def _list(args) -> int:
    rows = runs.list_runs()
    if not rows:
        print("No runs yet: `python -m workbench train --dataset NAME --base demo`.")
    for run in rows:
        metrics = runs.final_metrics(run["id"])
        losses = " ".join(f"{k} {metrics[k]:.4f}" for k in ("loss", "eval_loss") if k in metrics)
        print(f"{run['id']}\t{run['name']}\t{run['status']}\t{run['base_model']}\t{losses}")
    return 0


def _show(args) -> int:
    run = runs.get_run(args.run)
    print(
        json.dumps(
            {
                "id": run["id"],
                "name": run["name"],
                "status": run["status"],
                "base_model": run["base_model"],
                "created": run["created"],
                "started": run["started"],
                "finished": run["finished"],
                "adapter_dir": run["adapter_dir"],
                "progress": runs.run_progress(run),
                "final_metrics": runs.final_metrics(run["id"]),
                "error": run["error"],
                "config": json.loads(run["config_json"]),
            },
            indent=2,
            ensure_ascii=False,
        )
    )
    return 0


def _cancel(args) -> int:
    run = runs.get_run(args.run)
    print(f"Run {run['name']}: {runs.cancel_run(run['id'], keep_best=args.keep_best)}")
    return 0


def _resume(args) -> int:
    run = runs.get_run(args.run)
    checkpoint = runs.resume_run(run["id"])
    print(f"Run {run['name']} queued to resume from {checkpoint.name if checkpoint else 'the start'}.")
    return 0


def _import_adapter(args) -> int:
    from workbench.training.imported import ImportRequest, import_adapter

    run = import_adapter(ImportRequest(args.folder, args.base, args.name, args.dataset))
    print(f"Run {run['name']} ({run['status']}): compare, evaluate or publish it like a trained run.")
    return 0


def _delete(args) -> int:
    run = runs.get_run(args.run)
    if not args.yes and sys.stdin.isatty():
        if input(f"Delete run {run['name']} and its adapter? [y/N] ").strip().lower() != "y":
            print("Nothing deleted.")
            return 1
    elif not args.yes:
        print("Pass --yes to delete without a prompt.", file=sys.stderr)
        return 2
    runs.delete_run(run["id"])
    print(f"Deleted run {run['name']}.")
    return 0
