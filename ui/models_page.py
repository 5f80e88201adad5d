"""The Models page pieces: the catalogue with status, and preparing a model in a background process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import streamlit as st

from workbench import paths
from workbench.models import catalog


def prepare_log(name: str):
    return paths.cache_dir() / f"prepare-{name}.log"


def start_prepare(name: str) -> None:
    """`python -m workbench models get NAME` as a detached process: the page never blocks on it."""
    log = prepare_log(name)
    env = {**os.environ, "WORKBENCH_HOME": str(paths.home())}
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "workbench", "models", "get", name], cwd=paths.REPO_ROOT,
                                   env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    st.session_state.setdefault("models_preparing", {})[name] = process


def _preparing(name: str) -> bool:
    process = st.session_state.get("models_preparing", {}).get(name)
    return process is not None and process.poll() is None


def catalogue_table() -> None:
    for problem in catalog.custom_entries()[1]:
        st.warning(problem, icon=":material/error:")
    rows = []
    for item in catalog.catalog():
        rows.append({"model": item.name, "status": catalog.status(item.name), "title": item.title,
                     "parameters": f"{item.parameters / 1e6:,.1f} M" if item.parameters else "",
                     "licence": item.licence, "size (MB)": item.size_on_disk_mb, "template": item.template_family,
                     "target modules": item.target_modules, "memory": item.memory_note})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def model_panel(name: str) -> None:
    item = catalog.entry(name)
    state = catalog.status(name)
    st.markdown(f"**{item.title}** — {state}")
    if item.notes:
        st.caption(item.notes)
    if _preparing(name):
        _progress(name, True)
        return
    if state != "ready" and st.button(f"Prepare {name}", key=f"models_prepare_{name}", type="primary"):
        start_prepare(name)
        st.rerun()
    if prepare_log(name).exists():
        _progress(name, False)
    if state == "ready":
        info = catalog.info(name)
        with st.expander("Manifest"):
            st.json(info.get("manifest") or {})
        with st.popover("Remove"):
            st.write(f"Delete the prepared files of **{name}**? Runs that used it keep their adapters.")
            if st.button("Yes, remove", key=f"models_remove_{name}"):
                try:
                    catalog.remove(name)
                except catalog.CatalogError as exc:
                    st.error(str(exc))
                else:
                    st.rerun()


def _progress(name: str, active: bool) -> None:
    def body() -> None:
        if active and not _preparing(name):
            st.rerun()
        lines = prepare_log(name).read_text(errors="replace").splitlines() if prepare_log(name).exists() else []
        if active:
            st.info(f"Preparing {name}… " + (lines[-1] if lines else "starting"), icon=":material/downloading:")
        with st.expander("Preparation log", expanded=active):
            st.code("\n".join(lines[-30:]) or "(empty)", language=None)

    st.fragment(run_every="1s" if active else None)(body)()


def custom_catalog_help() -> None:
    with st.expander("Add a model of your own"):
        st.markdown(
            f"List GGUF models packaged as wheels (from an internal package index or a file share) in "
            f"`{catalog.custom_catalog_path()}`. Each entry needs a `name`, the `wheel` (a file path, relative "
            "to that file, or an https URL), the wheel's `wheel_sha256` and the GGUF's path inside it as "
            "`member`; `title`, `licence`, `parameters`, `template_family` and `target_modules` are optional. "
            "They appear in this list and in every base-model picker once prepared."
        )
        st.code(json.dumps([{"name": "acme-support-1b", "wheel": "/mnt/models/llm_acme-1.0-py3-none-any.whl",
                             "wheel_sha256": "<64 hex digits>", "member": "llm_acme/acme-1b.Q8_0.gguf",
                             "licence": "proprietary"}], indent=2), language="json")
