"""Train page pieces: memory estimate, config files (YAML, Axolotl, accelerate), launch, queue, run controls."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.train.config_form import load_config
from workbench import paths
from workbench.data import repository
from workbench.data.stats import LengthCheck
from workbench.errors import WorkbenchError
from workbench.jobs import queue, registry
from workbench.system import DeviceInfo
from workbench.training import runs
from workbench.training.cluster import export_cluster_job
from workbench.training.config import ConfigError, TrainConfig
from workbench.training.data import length_check
from workbench.training.distributed import Placement
from workbench.training.export import config_from_yaml, config_to_yaml, to_axolotl_yaml
from workbench.training.memory import estimate_memory, model_shape_for, recommend, sampled_sequence_tokens


def config_problems(config: TrainConfig) -> list[str]:
    try:
        config.validate()
    except ConfigError as exc:
        return exc.problems
    return runs.row_problems(config)


def memory_panel(config: TrainConfig, device: DeviceInfo) -> None:
    try:
        shape = model_shape_for(config.base_model)
    except Exception as exc:  # an unreachable hub id: say so, the rest of the page still works
        st.caption(f":material/memory: No memory estimate: {exc}")
        return
    sequence = _sampled_sequence(config)
    estimate = estimate_memory(config, shape, device, sequence)
    text = recommend(config, shape, device, sequence)
    (st.warning if estimate.fits is False else st.info)(text, icon=":material/memory:")
    with st.expander(
        f"Memory estimate: about {estimate.total_gb:.1f} GB ({estimate.trainable_params:,} trainable parameters)"
    ):
        if sequence:
            st.caption(
                f"Sequences of up to {sequence:,} tokens: the longest prompt of the dataset and up to "
                f"{config.max_completion_length} sampled tokens."
            )
        st.dataframe(
            pd.DataFrame([{"part": k, "GB": round(v, 2)} for k, v in estimate.breakdown.items()]), hide_index=True
        )


def config_files(config: TrainConfig) -> None:
    with st.expander("Config files: YAML, Axolotl, accelerate"):
        left, right = st.columns(2)
        left.download_button(
            "Download config (YAML)", config_to_yaml(config), file_name="train-config.yaml", key="train_yaml_download"
        )
        dataset_file = f"{config.dataset}-r{config.dataset_revision}-chat.jsonl"
        right.download_button(
            "Download Axolotl config",
            to_axolotl_yaml(config, dataset_file, config.base_model),
            file_name="axolotl.yaml",
            key="train_axolotl_download",
        )
        right.caption(
            f"Axolotl reads chat rows: put the dataset next to it as `{dataset_file}` (Datasets → Export → chat)."
        )
        upload = st.file_uploader("Load a config (YAML)", type=["yaml", "yml"], key="train_yaml_upload")
        if upload is not None and st.button("Use this config", key="train_yaml_use"):
            try:
                load_config(config_from_yaml(upload.getvalue().decode("utf-8"), upload.name))
            except (ConfigError, UnicodeDecodeError) as exc:
                st.error(str(exc))
            else:
                st.rerun()
        cluster_job(config)


def cluster_job(config: TrainConfig) -> None:
    """The run as a folder for a cluster: machines × processes, accelerate configs, one script per machine."""
    st.markdown("**The same run on a cluster** (machines × GPUs, accelerate):")
    machines, processes, main_ip, engine = st.columns(4)
    n_machines = int(machines.number_input("Machines", 1, 1024, 2, key="cluster_machines"))
    per_machine = int(processes.number_input("GPUs each", 1, 64, 8, key="cluster_processes"))
    ip = main_ip.text_input("Machine 0's address", "127.0.0.1", key="cluster_main_ip")
    who = engine.selectbox("Trained by", ["workbench", "axolotl"], key="cluster_engine")
    name = st.text_input("Run name there", f"{config.dataset}-cluster", key="cluster_run_name")
    if st.button("Write the cluster folder", icon=":material/folder_zip:", key="cluster_write"):
        try:
            placement = Placement(n_machines, per_machine, "ddp", ip.strip())
            out = export_cluster_job(config, name, placement, paths.exports_dir(name) / "cluster", engine=who)
        except WorkbenchError as exc:
            st.error(str(exc))
        else:
            st.success(
                f"Wrote `{out}`: copy it to each machine and run `machine-<k>.sh` there (its README.md says how)."
            )
    st.caption(
        "From the CLI, with FSDP chosen from the memory estimate: `python -m workbench train --dataset D --base B "
        "--cluster DIR --machines 2 --processes-per-machine 8 --main-ip 10.0.0.5 --gpu-memory 80`."
    )


@st.cache_data(show_spinner="Counting tokens…", max_entries=16)
def _length_check(_config: TrainConfig, key: tuple) -> LengthCheck:
    """Cached by what decides the counts (`key`), not by every setting of the run."""
    return length_check(_config)


def _checked_lengths(config: TrainConfig) -> LengthCheck | None:
    """The dataset revision's rows counted in the base's tokens (cached), or None where they cannot be (the launch
    itself says what is wrong with the dataset or the base)."""
    try:
        revision = repository.get_revision(config.dataset, config.dataset_revision)
        key = (
            revision.sha256,
            config.base_model,
            config.max_length,
            config.system_prompt,
            config.train_on_inputs,
            config.packing,
        )
        return _length_check(config, key)
    except (WorkbenchError, ValueError, OSError):
        return None


def _sampled_sequence(config: TrainConfig) -> int | None:
    """GRPO's longest sequence from the dataset's real prompts (memory.sampled_sequence_tokens), where counted."""
    if config.objective != "grpo":
        return None
    check = _checked_lengths(config)
    return None if check is None else sampled_sequence_tokens(config, check)


def length_notice(config: TrainConfig) -> None:
    """Rows longer than max_length, said before launch: how many will be cut or dropped, and the fix."""
    check = _checked_lengths(config)
    if check is None:
        return
    if check.context is not None and config.max_length > check.context:
        st.warning(
            f"max_length {config.max_length:,} is more than {config.base_model} reads ({check.context:,} tokens): "
            f"training cannot use the rest. Set it to {check.context:,} or less.",
            icon=":material/straighten:",
        )
    message = check.message()
    if message:
        st.warning(message, icon=":material/straighten:")
        with st.expander("The row" if len(check.over) == 1 else f"The {len(check.over)} rows"):
            st.code("\n".join(check.listing(f"{config.dataset}.jsonl")[:200]), language=None)


def launch_bar(config: TrainConfig) -> None:
    problems = config_problems(config)
    if problems:
        st.error("Fix these settings before launching:\n" + "\n".join(f"- {p}" for p in problems))
    else:
        length_notice(config)
    left, right = st.columns([3, 1])
    name = left.text_input("Run name (optional)", key="train_run_name", placeholder="dataset-base-date")
    if right.button(
        "Launch training", type="primary", key="train_launch", disabled=bool(problems), icon=":material/play_arrow:"
    ):
        try:
            run_id = runs.start_run(config, name.strip() or None)
        except (ConfigError, runs.RunError, repository.DatasetError) as exc:
            st.error(str(exc))
            return
        st.session_state["train_watch"] = run_id
        st.rerun()


def queue_panel() -> None:
    """Every job waiting or running, of every kind: what it is, where it stands, what it waits for."""
    active = registry.active()
    if len(active) > 1 or any(job["status"] == "queued" for job in active):
        st.caption("Queue (one job uses the device at a time; the next starts by itself; cancel from the sidebar):")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "job": job["title"],
                        "status": job["status"],
                        "where it stands": queue.describe(job).split(" — ", 1)[1],
                        "created": job["created"],
                    }
                    for job in active
                ]
            ),
            hide_index=True,
        )


def run_controls(run_id: int) -> None:
    run = runs.get_run(run_id)
    if run["status"] not in ("queued", "running"):
        return
    left, right, _ = st.columns([1, 1, 2])
    if left.button("Cancel (keep the adapter so far)", key=f"train_cancel_{run_id}"):
        runs.cancel_run(run_id)
        st.rerun()
    if run["status"] == "running" and right.button(
        "Stop and keep best",
        key=f"train_keep_best_{run_id}",
        help="stop now and keep the best weights: the best answer check where the run checks its answers, else "
        "the lowest eval loss",
    ):
        runs.cancel_run(run_id, keep_best=True)
        st.rerun()
