"""The Models page pieces: the catalogue with status, and preparing a model in a background process."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from ui.logs import show_log
from workbench.jobs import queue, registry
from workbench.models import catalog, local, preparing
from workbench.models.loading import list_local_models
from workbench.training import runs


def catalogue_table() -> None:
    for problem in catalog.custom_entries()[1]:
        st.warning(problem, icon=":material/error:")
    rows = []
    for item in catalog.catalog():
        rows.append(
            {
                "model": item.name,
                "status": catalog.status(item.name),
                "title": item.title,
                "parameters": f"{item.parameters / 1e6:,.1f} M" if item.parameters else "",
                "licence": item.licence,
                "size (MB)": item.size_on_disk_mb,
                "template": item.template_family,
                "target modules": item.target_modules,
                "memory": item.memory_note,
            }
        )
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    known = {row["model"] for row in rows}
    own = [m for m in list_local_models() if m["name"] not in known]
    if own:
        st.caption("Also on this machine: " + ", ".join(f"**{m['name']}** ({m.get('source', 'local')})" for m in own))


def model_panel(name: str) -> None:
    item = catalog.entry(name)
    state = catalog.status(name)
    st.markdown(f"**{item.title}** — {state}")
    if item.notes:
        st.caption(item.notes)
    if preparing.active_preparation(name):
        _progress(name, True)
        return
    if state != "ready" and st.button(f"Prepare {name}", key=f"models_prepare_{name}", type="primary"):
        preparing.start_prepare(name)
        st.rerun()
    if preparing.latest_preparation(name):
        _progress(name, False)
    if state == "ready":
        info = catalog.info(name)
        with st.expander("Manifest"):
            st.json(info.get("manifest") or {})
        with st.popover("Remove"):
            st.write(f"Delete the prepared files of **{name}**? Runs that used it keep their adapters.")
            if st.button("Yes, remove", key=f"models_remove_{name}"):
                try:
                    catalog.remove(name, used_by=runs.runs_using_base(name))
                except catalog.CatalogError as exc:
                    st.error(str(exc))
                else:
                    st.rerun()


def _progress(name: str, active: bool) -> None:
    def body() -> None:
        job = preparing.active_preparation(name) if active else preparing.latest_preparation(name)
        if job is None or (active and job["status"] not in registry.ACTIVE):
            st.rerun()
            return
        lines = registry.log_lines(job)
        if active:
            state = lines[-1] if lines else queue.waiting_for(job) or "starting"
            st.info(f"Preparing {name}… {state}", icon=":material/downloading:")
        elif job["status"] == "failed":
            st.error(f"{job['title']} failed: {(job['error'] or '').split(chr(10))[0]}", icon=":material/error:")
        show_log("Preparation log", lines, registry.log_path(job), expanded=active, last=30)

    st.fragment(run_every="1s" if active else None)(body)()


def add_local_model() -> None:
    """Add a model already on this machine: a Hugging Face folder (linked at once) or a GGUF file (converted
    in the background)."""
    with st.expander("Add a model from this machine (a model folder or a GGUF file)"):
        path = st.text_input(
            "Folder or .gguf file",
            key="models_local_path",
            placeholder="/data/models/Qwen2.5-0.5B-Instruct or /data/model.Q8_0.gguf",
        )
        name = st.text_input(
            "Name in the workbench",
            key="models_local_name",
            placeholder=local.suggested_name(path) if path.strip() else "lowercase-name",
        )
        if not st.button("Add", key="models_local_add", disabled=not path.strip()):
            return
        try:
            if path.strip().lower().endswith(".gguf"):
                job_id = preparing.start_add_gguf(path.strip(), name.strip() or None)
                st.success(
                    f"Converting it in the background (job {job_id}): it shows in the base-model pickers once done.",
                    icon=":material/downloading:",
                )
            else:
                folder = local.add_folder(path.strip(), name.strip() or None)
                st.success(
                    f"Added {folder.name}: pick it as the base model on the Train page.", icon=":material/check_circle:"
                )
        except catalog.CatalogError as exc:
            st.error(str(exc), icon=":material/error:")


def custom_catalog_help() -> None:
    with st.expander("Add a model of your own"):
        st.markdown(
            f"List GGUF models packaged as wheels (from an internal package index or a file share) in "
            f"`{catalog.custom_catalog_path()}`. Each entry needs a `name`, the `wheel` (a file path, relative "
            "to that file, or an https URL), the wheel's `wheel_sha256` and the GGUF's path inside it as "
            "`member`; `title`, `licence`, `parameters`, `template_family` and `target_modules` are optional. "
            "They appear in this list and in every base-model picker once prepared."
        )
        st.code(
            json.dumps(
                [
                    {
                        "name": "acme-support-1b",
                        "wheel": "/mnt/models/llm_acme-1.0-py3-none-any.whl",
                        "wheel_sha256": "<64 hex digits>",
                        "member": "llm_acme/acme-1b.Q8_0.gguf",
                        "licence": "proprietary",
                    }
                ],
                indent=2,
            ),
            language="json",
        )
