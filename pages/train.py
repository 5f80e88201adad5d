"""Train: configure a LoRA/QLoRA run, see its memory estimate, launch it, watch it live."""

import streamlit as st

from ui.frame import require_app_frame
from ui.links import follow_url, keep_in_url, run_view_link
from ui.models import base_model_picker
from ui.persist import remember, restore
from ui.sidebar import device
from ui.train.config_form import LORA_SHAPE, apply_pending, check_rows_words, config_form, load_config
from ui.train.launch import config_files, config_problems, launch_bar, memory_panel, queue_panel, run_controls
from ui.train.live import live_run
from ui.train.objective import objective_settings
from ui.train.sweep import sweep_panel
from workbench.data import repository
from workbench.models.presets import preset_for
from workbench.training import runs
from workbench.training.autosize import fit_base_to_gpu
from workbench.training.config import TrainConfig, apply_preset, default_config, describe_cpu_preset

require_app_frame()

# Value widgets only (never a button's key: Streamlit refuses to set those).
KEPT = ("train_dataset", "train_base", "train_revision_", "train_run_name", "tc_", "sweep_")

st.title("Train")
for active_run in [r for r in runs.active_runs() if r["status"] != "queued"][:1]:
    run_view_link(active_run["id"], f"{active_run['name']} is {active_run['status']}: open its live view")
repository.ensure_samples()
names = repository.dataset_names()
if not names:
    st.info("No dataset yet: create or import one on the Datasets page first.")
    st.stop()
restore(KEPT)
follow_url("dataset", "train_dataset", {name: name for name in names})
if st.session_state.get("train_dataset") not in names:
    st.session_state["train_dataset"] = repository.last_used_dataset()

left, middle, right = st.columns([2, 1, 2])
dataset = left.selectbox("Dataset", names, key="train_dataset")
keep_in_url("dataset", "train_dataset", dataset)
revisions = repository.revisions(dataset)
revision = middle.selectbox(
    "Revision",
    [r.n for r in revisions],
    key=f"train_revision_{dataset}",
    format_func=lambda n: f"{n} (latest)" if n == revisions[0].n else str(n),
)
chosen = next(r for r in revisions if r.n == revision)
split = chosen.split
middle.caption(
    f"{chosen.rows} rows · "
    + (
        f"train {len(split.train)} / validation {len(split.validation)}"
        if split
        else "no validation split: eval loss will be missing"
    )
)
with right:
    base = base_model_picker("Base model", key="train_base")

gpu = device()
default = default_config(gpu.kind == "cuda")
if gpu.kind == "cuda":
    default = fit_base_to_gpu(default.with_updates(base_model=base), gpu)
else:
    st.caption(
        f":material/info: No GPU here, so the **CPU preset** is the default: {describe_cpu_preset(gpu.bf16)}. "
        "Measured on 2 cores, SmolLM2-135M learns the sample task in minutes this way; the GPU recipe "
        "would take hours on a CPU."
    )
preset = preset_for(base)
if preset and st.button(f"Use the recommended settings for {preset.name}", key="train_apply_preset"):
    current = st.session_state.get("train_last_config") or default
    load_config(apply_preset(current, preset))
    st.rerun()

apply_pending(default)
objective = objective_settings(repository.get_dataset(dataset).format, base, default, dataset)
values = config_form(default, fixed=LORA_SHAPE if objective.get("start_from") else frozenset())
config = TrainConfig(base_model=base, dataset=dataset, dataset_revision=revision, **values, **objective)
st.session_state["train_last_config"] = config
if config.trust_remote_code:
    st.warning(
        f"**Trust remote code is on**: loading {base} runs Python code shipped in its folder (or hub repository) "
        "with your permissions. Keep it on only for a model whose code you have read.",
        icon=":material/gpp_maybe:",
    )
if checks := check_rows_words(config, len(split.validation) if split else 0):
    st.caption(f":material/rule: {checks}")
memory_panel(config, gpu)
config_files(config)
launch_bar(config)
sweep_panel(config, config_problems(config))
queue_panel()
remember(KEPT)

watched = st.session_state.get("train_watch") or next(
    (r["id"] for r in runs.list_runs() if r["status"] in ("running", "cancelling")), None
)
if watched:
    st.divider()
    st.subheader("Live")
    try:
        run_controls(watched)
        live_run(watched)
    except runs.RunError:
        st.session_state.pop("train_watch", None)
