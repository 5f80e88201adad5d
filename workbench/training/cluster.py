"""The folder a user copies to a cluster to train one run on N machines × M processes, and its setup there.

    cluster-<run>/
      README.md                   how to run it (by hand, under Slurm), what must be reachable
      run.json                    the run's name, TrainConfig and placement; the dataset's name, format, split
      dataset.jsonl               the dataset revision's rows (the split travels as its spec: same rows, same split)
      accelerate-machine-<k>.yaml accelerate's config of machine k (training/distributed.py)
      machine-<k>.sh              machine k: set up its workspace, then `accelerate launch` the workbench's worker
      axolotl.yaml, axolotl-machine-<k>.sh   the same run under Axolotl instead, if chosen

Each machine sets up a workspace of its own inside the folder (`home-machine-<k>/`: a registry is never
shared over a network file system) with the same dataset, split and run (`python -m workbench.training.cluster
setup`), then launches the workbench's own worker, so process 0 (on machine 0) writes the adapter in the
workbench's layout, with its `workbench_run.json` and `loss_history.json`: `runs import-adapter` brings it
back with its config and metrics.
"""

from __future__ import annotations

import json
import shlex
import stat
import sys
from dataclasses import asdict
from pathlib import Path

import yaml

from workbench import paths
from workbench.data import repository
from workbench.data.split import SplitSpec
from workbench.errors import WorkbenchError
from workbench.fileio import folder_in_place, write_json_atomic, write_text_atomic
from workbench.training import runs
from workbench.training.config import TrainConfig
from workbench.training.distributed import Placement, accelerate_config
from workbench.training.export import to_axolotl_yaml

RUN_FILE = "run.json"
DATASET_FILE = "dataset.jsonl"
ENGINES = ("workbench", "axolotl")
AXOLOTL_NOTE = "Under Axolotl: run `axolotl-machine-<k>.sh` instead; its output folder is the adapter to import.\n"


class ClusterError(WorkbenchError, ValueError):
    """A cluster folder that cannot be written or set up; the message says what to do."""


def export_cluster_job(
    config: TrainConfig,
    run_name: str,
    placement: Placement,
    out: Path,
    *,
    strategy: str = "ddp",
    engine: str = "workbench",
    base_on_cluster: str = "",
) -> Path:
    """Write the cluster folder `out` (whole, or nothing on a failure); returns it."""
    placement.validate()
    if engine not in ENGINES:
        raise ClusterError(f"engine: {engine!r} — one of {', '.join(ENGINES)}.")
    if not runs.RUN_NAME.match(run_name):
        raise ClusterError(f"run name: {run_name!r} — letters, digits, '.', '_' or '-', up to 80.")
    revision = repository.get_revision(config.dataset, config.dataset_revision)
    rows = repository.read_revision_rows(revision)
    base = base_on_cluster or config.base_model
    # On the cluster: no automatic evaluation (it is scored once brought back), the placement's processes.
    config = config.with_updates(
        base_model=base, dataset_revision=1, auto_evaluate=False, num_processes=0, gpus=""
    ).validate()
    plan = {
        "run": run_name,
        "config": config.to_dict(),
        "placement": asdict(placement),
        "strategy": strategy,
        "dataset": {
            "name": config.dataset,
            "format": repository.get_dataset(config.dataset).format,
            "split": revision.split.spec.to_dict() if revision.split is not None else None,
            "sha256": revision.sha256,
        },
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with folder_in_place(out) as building:
        building.mkdir()
        write_json_atomic(building / RUN_FILE, plan)
        write_text_atomic(building / DATASET_FILE, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        for rank in range(placement.num_machines):
            settings = accelerate_config(config, placement, strategy, machine_rank=rank)
            write_text_atomic(building / f"accelerate-machine-{rank}.yaml", yaml.safe_dump(settings, sort_keys=True))
            _script(building / f"machine-{rank}.sh", machine_script(rank, placement))
            if engine == "axolotl":
                _script(building / f"axolotl-machine-{rank}.sh", axolotl_script(rank, placement))
        if engine == "axolotl":
            write_text_atomic(building / "axolotl.yaml", to_axolotl_yaml(config, DATASET_FILE, base))
        write_text_atomic(building / "README.md", readme(run_name, placement, base, engine))
    return out


def _script(path: Path, text: str) -> None:
    write_text_atomic(path, text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP)


def machine_script(rank: int, placement: Placement) -> str:
    """Machine `rank`: its own workspace, the run set up there, then the worker under `accelerate launch`."""
    repo = shlex.quote(str(paths.REPO_ROOT))
    return f"""#!/usr/bin/env bash
# Machine {rank} of {placement.num_machines} ({placement.processes_per_machine} process(es) here). Run it on that
# machine, all machines within a few minutes of each other. MAIN_PROCESS_IP overrides machine 0's address
# ({placement.main_process_ip}); WORKBENCH_REPO is where the workbench is installed; PYTHON its Python.
set -euo pipefail
cd "$(dirname "$0")"
export WORKBENCH_HOME="$PWD/home-machine-{rank}"
export PYTHONPATH="${{WORKBENCH_REPO:-{repo}}}${{PYTHONPATH:+:$PYTHONPATH}}"
export HF_HUB_OFFLINE="${{HF_HUB_OFFLINE:-1}}"
PY="${{PYTHON:-python}}"
JOB=$("$PY" -m workbench.training.cluster setup .)
exec "$PY" -m accelerate.commands.launch --config_file accelerate-machine-{rank}.yaml \\
  --machine_rank {rank} --main_process_ip "${{MAIN_PROCESS_IP:-{placement.main_process_ip}}}" \\
  --main_process_port {placement.main_process_port} --module workbench.jobs.worker "$JOB"
"""


def axolotl_script(rank: int, placement: Placement) -> str:
    return f"""#!/usr/bin/env bash
# Machine {rank} of {placement.num_machines} under Axolotl (installed on the cluster): its output folder is a PEFT
# adapter that `python -m workbench runs import-adapter` brings back.
set -euo pipefail
cd "$(dirname "$0")"
exec "${{PYTHON:-python}}" -m accelerate.commands.launch --config_file accelerate-machine-{rank}.yaml \\
  --machine_rank {rank} --main_process_ip "${{MAIN_PROCESS_IP:-{placement.main_process_ip}}}" \\
  -m axolotl.cli.train axolotl.yaml
"""


def readme(run_name: str, placement: Placement, base: str, engine: str) -> str:
    machines = " ".join(f"machine-{k}.sh" for k in range(placement.num_machines))
    return f"""# Cluster job: run {run_name}

{placement.num_machines} machine(s) × {placement.processes_per_machine} process(es), base `{base}` (it must load on
every machine: a local folder there, or a Hugging Face id with the model in the cache).

1. Copy this folder to every machine (or put it on a shared file system) and install the workbench there
   (`make setup`); set `WORKBENCH_REPO` to its folder if it is not `{paths.REPO_ROOT}`.
2. Machine 0 must be reachable from the others at `MAIN_PROCESS_IP` (default {placement.main_process_ip}) on TCP
   port {placement.main_process_port} (torch.distributed's rendezvous), and the machines must reach each other
   (gloo or NCCL traffic).
3. Start `machine-<k>.sh` on machine k ({machines}), e.g. under Slurm:
   `srun --nodes={placement.num_machines} --ntasks-per-node=1 bash -c 'MAIN_PROCESS_IP=$(scontrol show hostnames
   "$SLURM_JOB_NODELIST" | head -n1) ./machine-$SLURM_NODEID.sh'`.
4. The adapter lands on machine 0 in `home-machine-0/adapters/{run_name}/`. Bring it back:
   `python -m workbench runs import-adapter home-machine-0/adapters/{run_name} --base BASE --dataset DATASET`
   (its config and loss history come along).

The workbench at home sees nothing of this run until then: no live charts, no cancel. Each machine's log is
its own terminal (and `home-machine-<k>/runs/{run_name}/train.log` on machine 0).
{AXOLOTL_NOTE if engine == "axolotl" else ""}"""


# ------------------------------------------------------------------------------------------------ on the cluster


def setup(folder: Path) -> int:
    """In this machine's workspace: the dataset and split of the folder, and the run queued (not launched);
    returns the training job's id. Running it again finds what it made."""
    plan = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    name, dataset = plan["run"], plan["dataset"]
    try:
        return runs.get_run(name)["job_id"]
    except runs.RunError:
        pass
    rows = [json.loads(line) for line in (folder / DATASET_FILE).read_text(encoding="utf-8").splitlines() if line]
    if dataset["name"] not in repository.dataset_names():
        repository.create_dataset(dataset["name"], dataset["format"], rows, note="from the cluster folder")
        if dataset["split"]:
            repository.make_split(dataset["name"], 1, SplitSpec.from_dict(dataset["split"]))
    config = TrainConfig.from_dict(plan["config"])
    run_id = runs.create_run(config, name, processes=Placement(**plan["placement"]).total_processes)
    return runs.get_run(run_id)["job_id"]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "setup":
        print("usage: python -m workbench.training.cluster setup FOLDER", file=sys.stderr)
        return 2
    print(setup(Path(args[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
