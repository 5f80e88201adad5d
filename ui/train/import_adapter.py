"""The Runs page's "Import an adapter trained elsewhere": a folder, its base and (optionally) a dataset to evaluate
it on; the import runs as a background job (checks, copy, registration) and its outcome is shown here."""

from __future__ import annotations

import streamlit as st

from ui.models import base_model_picker
from workbench.data import repository
from workbench.errors import WorkbenchError
from workbench.jobs import registry
from workbench.training.imported import ImportRequest, start_import

NO_DATASET = "(none: name one later when evaluating)"
IMPORT_JOB = "import_job"  # the import started in this session, whose outcome the panel shows
OPENED = "import_opened"  # the import job whose run was opened in the page's view
FOCUS_NEXT = "runs_focus_next"  # the run the Runs page's Run box shows on its next run


def import_panel(expanded: bool = False) -> None:
    with st.expander("Import an adapter trained elsewhere", icon=":material/download:", expanded=expanded):
        st.caption(
            "A PEFT LoRA adapter folder (Axolotl, Unsloth, LLaMA-Factory, TRL or a cluster job exported from here): "
            "safetensors weights and adapter_config.json. It is checked against the base (name, every layer's "
            "shape) and copied into the workspace; then Compare, evaluation and Publish work on it."
        )
        with st.form("import_adapter_form"):
            folder = st.text_input("Adapter folder", placeholder="/home/me/axolotl/outputs/lora-out")
            base = base_model_picker("Base it was trained on", key="import_base")
            name = st.text_input("Run name (optional)", placeholder="the folder's name")
            datasets = [NO_DATASET, *(d.name for d in repository.list_datasets())]
            dataset = st.selectbox("Dataset to evaluate it on (optional)", datasets)
            submitted = st.form_submit_button("Import", icon=":material/download:")
        if submitted:
            _start(ImportRequest(folder.strip(), base, name.strip(), "" if dataset == NO_DATASET else dataset))
        _latest_import()


def _start(request: ImportRequest) -> None:
    if not request.source:
        st.error("Give the adapter folder: the one that holds adapter_config.json.")
        return
    try:
        st.session_state[IMPORT_JOB] = start_import(request)
    except WorkbenchError as exc:
        st.error(str(exc), icon=":material/block:")


def _latest_import() -> None:
    """The outcome of the import started here, polled while it runs."""
    job_id = st.session_state.get(IMPORT_JOB)
    if job_id is None:
        return
    active = registry.get(job_id)["status"] in registry.ACTIVE
    st.fragment(run_every="2s" if active else None)(_outcome)(job_id)


def _outcome(job_id: int) -> None:
    job = registry.get(job_id)
    if job["status"] in registry.ACTIVE:
        st.info(f"{job['title']}: {registry.progress(job).get('phase') or job['status']}…", icon=":material/pending:")
    elif job["status"] == "completed":
        run = registry.result(job).get("run")
        if st.session_state.get(OPENED) != job_id:
            # Once: open the run in the page's view. A fragment's rerun redraws only the fragment, so the page
            # above (its list of runs) is rerun too, and its Run box takes the new run before it is drawn.
            st.session_state[OPENED] = job_id
            st.session_state[FOCUS_NEXT] = registry.result(job).get("run_id")
            st.rerun()
        st.success(
            f"Imported as run **{run}**: open above; compare it on Compare, publish it on Publish.",
            icon=":material/check:",
        )
    else:
        st.error(f"{job['title']} {job['status']}: {(job.get('error') or '').split(chr(10) + chr(10))[0]}")
