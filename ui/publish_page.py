"""The Publish page pieces: Ollama connection, planning with an editable Modelfile, the background publish,
and the list of published models."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import streamlit as st

from ui.logs import show_log
from workbench import logs
from workbench.jobs import queue, registry
from workbench.publish import gguf, llama_cpp, records
from workbench.publish import ollama as publish_ollama
from workbench.publish.merge import PublishError
from workbench.system import ollama_host
from workbench.training import runs

JOB_KINDS = ("publish", "export")
ROUTE_HELP = (
    "**merged**: the adapter is merged into the base and the whole model is uploaded (works for every "
    "adapter; Ollama can quantize it). **adapter**: the base is uploaded to Ollama once, then each run "
    "only uploads its small LoRA file (plain LoRA only). **auto** picks adapter when the run's base is "
    "already in Ollama, merged otherwise."
)


def connection_panel() -> tuple[str, dict | None]:
    host = st.text_input("Ollama host", value=ollama_host(), key="publish_host").strip().rstrip("/")
    try:
        server = publish_ollama.connection(host)
    except PublishError as exc:
        st.warning(str(exc), icon=":material/cloud_off:")
        return host, None
    models = ", ".join(server["models"]) or "none yet"
    st.success(f"Ollama {server['version']} at {host}. Installed models: {models}.", icon=":material/cloud_done:")
    return host, server


def publishable_runs() -> list[dict]:
    """Finished runs whose adapter is on disk, newest first: never one still training."""
    finished = {choice["run_id"] for choice in runs.adapter_choices()}
    return [r for r in runs.list_runs() if r["id"] in finished]


def unfinished_note() -> str | None:
    """A line naming the runs still training, which are not offered yet."""
    training = [r["name"] for r in runs.list_runs() if r.get("status") in ("queued", "running", "cancelling")]
    if not training:
        return None
    return f"Still training, so not offered yet: {', '.join(training)}. They can be published once they complete."


def default_name(run_name: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", run_name.lower()).strip("-._")[:60] or "my-model"


@st.cache_data(ttl=30, show_spinner=False)
def _plan(
    run_id: int, name: str, host: str, route: str | None, quantize: str | None, installed: tuple[str, ...] | None
) -> publish_ollama.PublishSpec:
    # Loads the run's tokenizer and checks the template translation: once per choice, not on every rerun.
    return publish_ollama.plan(
        run_id,
        name,
        host=host,
        route=route,
        quantize=quantize,
        installed=None if installed is None else list(installed),
    )


def _name_follows_the_run(run: dict) -> None:
    """The model name is the chosen run's, until the user types one of their own."""
    suggested = st.session_state.get("publish_name_suggested")
    current = st.session_state.get("publish_name")
    if current is None or current == suggested:
        st.session_state["publish_name"] = default_name(run["name"])
    st.session_state["publish_name_suggested"] = default_name(run["name"])


def plan_form(run: dict, host: str, server: dict | None) -> publish_ollama.PublishSpec | None:
    _name_follows_the_run(run)
    name = st.text_input(
        "Ollama model name",
        key="publish_name",
        help="Lowercase letters, digits, '.', '_' and '-'; optionally namespace/ and :tag.",
    )
    left, middle, right = st.columns(3)
    route = left.selectbox("Route", ["auto", *publish_ollama.ROUTES], key="publish_route")
    quantize = middle.selectbox(
        "Quantization by Ollama",
        ["none", *publish_ollama.OLLAMA_QUANTIZATIONS],
        key="publish_quantize",
        help="none keeps the weights as trained (answers closest to the app).",
    )
    st.session_state.setdefault("publish_replay", publish_ollama.DEFAULT_REPLAY)
    right.number_input(
        "Held-out prompts to replay",
        min_value=0,
        max_value=50,
        key="publish_replay",
        help="Compared word for word between Ollama and the app after publishing.",
    )
    st.caption(ROUTE_HELP)
    try:
        return _plan(
            run["id"],
            name,
            host,
            None if route == "auto" else route,
            None if quantize == "none" else quantize,
            tuple(server["models"]) if server else (),
        )
    except PublishError as exc:
        st.error(str(exc), icon=":material/error:")
        return None


def modelfile_editor(spec: publish_ollama.PublishSpec) -> publish_ollama.PublishSpec | None:
    st.markdown(
        f"**Route:** {spec.route} · **template family:** {spec.family} · "
        f"**stop:** {', '.join(spec.parameters.get('stop', []))} · **num_ctx:** "
        f"{spec.parameters.get('num_ctx')}"
    )
    planned = publish_ollama.modelfile(spec)
    key = f"publish_modelfile_{spec.run_id}_{spec.name}_{spec.route}_{spec.quantize}"
    text = st.text_area(
        "Modelfile (edit TEMPLATE, SYSTEM or PARAMETER lines if you need to)", value=planned, height=320, key=key
    )
    try:
        return publish_ollama.apply_modelfile(spec, text)
    except PublishError as exc:
        st.error(str(exc), icon=":material/error:")
        return None


def publish_button(spec: publish_ollama.PublishSpec, connected: bool) -> None:
    if st.button(
        f"Publish {spec.name}",
        type="primary",
        key="publish_go",
        disabled=not connected or busy(),
        help=None if connected else "Start Ollama first (see above).",
    ):
        st.session_state["publish_job"] = publish_ollama.start_publish(spec, int(st.session_state["publish_replay"]))
        st.rerun()
    if not connected:
        st.caption("Publishing needs Ollama running (see above); the plan and the Modelfile are ready meanwhile.")


def _active_job() -> dict | None:
    """The newest queued or running publish or export (whoever started it: it outlives the tab)."""
    return next((job for job in registry.active()[::-1] if job["kind"] in JOB_KINDS), None)


def progress_panel() -> None:
    """The running job's live log; once it ends, how it ended, until the next job starts."""
    if _active_job() is None:
        finished_panel()
        return

    @st.fragment(run_every="1s")
    def body() -> None:
        job = _active_job()
        if job is None:
            st.rerun()
            return
        st.session_state["publish_job"] = job["id"]
        lines = registry.log_lines(job)
        st.info(queue.describe(job) + (f" · {lines[-1].strip()}" if lines else ""), icon=":material/rocket_launch:")
        show_log("Log", lines, registry.log_path(job), expanded=True, empty="(starting)")

    body()


def finished_panel() -> None:
    """How the job this page followed ended: the reason if it failed, its last words if it worked."""
    job_id = st.session_state.get("publish_job")
    if job_id is None:
        return
    try:
        job = registry.get(job_id)
    except registry.JobError:
        return
    lines = [line for line in registry.log_lines(job) if line.strip()]
    readable, _ = logs.for_reading(lines)
    result = registry.result(job)
    if (
        job["status"] == "completed"
        and job["kind"] == "publish"
        and result.get("agreed", 0) < result.get("replayed", 0)
    ):
        st.warning(
            f"Published {result['model']}, but only {result['agreed']} of {result['replayed']} held-out answers "
            "are the same in Ollama as in the app: compare the pairs below before you rely on it (a quantized "
            "model, an edited template or another base answer differently).",
            icon=":material/warning:",
        )
        differing_pairs(records.get_record(result["record_id"]))
    elif job["status"] == "completed":
        st.success(readable[-1].strip() if readable else f"{job['title']}: done.", icon=":material/check_circle:")
    elif job["status"] == "failed":
        st.error(f"{job['title']} failed: {(job['error'] or '').split(chr(10) * 2)[0]}", icon=":material/error:")
    else:
        st.warning(
            f"{job['title']}: {job['status']}. {(job['error'] or '').split(chr(10) * 2)[0]}", icon=":material/warning:"
        )
    show_log("Log of the last job", lines, registry.log_path(job), last=60)


def differing_pairs(record: dict) -> None:
    """The held-out prompts where Ollama's answer differs from the app's, side by side."""
    differing = (record["details"].get("verification") or {}).get("differing") or []
    if differing:
        with st.expander(f"{len(differing)} held-out answer(s) differ from the app", expanded=True):
            st.dataframe(pd.DataFrame(differing), hide_index=True, width="stretch")


def busy() -> bool:
    return _active_job() is not None


def published_list() -> None:
    records = publish_ollama.list_publishes()
    if not records:
        st.caption("Nothing published yet.")
        return
    rows = []
    for record in records:
        verification = record["details"].get("verification", {})
        replay = f"{verification.get('agreed')}/{verification.get('replayed')}" if verification else ""
        rows.append(
            {
                "id": record["id"],
                "model": record["name"],
                "status": record["status"],
                "route": record["target"].removeprefix("ollama:"),
                "host": record["host"],
                "quantization": record["details"].get("spec", {}).get("quantize") or "none",
                "held-out replay identical": replay,
                "created": record["created"],
                "error": record["details"].get("error", ""),
            }
        )
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    for record in records:
        differing = record["details"].get("verification", {}).get("differing") or []
        if differing:
            with st.expander(f"{record['name']}: {len(differing)} held-out answer(s) differ from the app"):
                st.dataframe(pd.DataFrame(differing), hide_index=True, width="stretch")
    delete_picker(
        "Published model",
        records,
        "publish_delete",
        "Remove the model from Ollama and from this list?",
        publish_ollama.delete_published,
        lambda r: f"{r['name']} ({r['status']}, {r['host']})",
    )


def delete_picker(label: str, records: list[dict], key: str, question: str, delete, describe) -> None:
    """Pick one record and delete it after a confirmation; a refusal is shown, not raised."""
    by_id = {r["id"]: r for r in records}
    chosen = st.selectbox(label, list(by_id), key=f"{key}_choice", format_func=lambda i: describe(by_id[i]))
    with st.popover("Delete"):
        st.write(question)
        if st.button("Yes, delete", key=key):
            try:
                delete(chosen)
            except PublishError as exc:
                st.error(str(exc))
            else:
                st.rerun()


# ------------------------------------------------------------------------------------------ GGUF export

QUANT_HELP = (
    "q8_0 (default) is close to the trained weights at half the size of f16; f16/bf16/f32 keep them as "
    "they are; the K-quants (q4_K_M: about a third of f16) need llama-cpp-python installed."
)


def gguf_form(run: dict) -> None:
    if note := llama_cpp.missing_note():
        st.info(note, icon=":material/download:")
    has_quantizer = gguf.has_llama_cpp()
    left, right = st.columns(2)
    quantize = left.selectbox(
        "Quantization",
        gguf.GGUF_QUANTIZATIONS,
        key="gguf_quantize",
        help=QUANT_HELP,
        index=gguf.GGUF_QUANTIZATIONS.index(gguf.DEFAULT_QUANTIZATION),
        format_func=lambda q: q if q in gguf.CONVERTER_TYPES or has_quantizer else f"{q} (needs llama-cpp-python)",
    )
    folder = right.text_input(
        "Export folder",
        value=str(gguf.default_out_dir(run, quantize)),
        key=f"gguf_out_{run['id']}_{quantize}",
        help="A new or empty folder, or an earlier export (replaced whole).",
    )
    adapter = st.checkbox(
        "Also write the adapter alone as GGUF (for `llama-cli --lora` over the base)", value=True, key="gguf_adapter"
    )
    base = adapter and st.checkbox(
        "…and the base as GGUF, to apply it to",
        value=False,
        key="gguf_base",
        help="The very GGUF a catalogue model was prepared from where there is one (the "
        "exact weights trained on), else the base converted from its folder.",
    )
    if has_quantizer:
        st.session_state.setdefault("gguf_compare", gguf.DEFAULT_COMPARE)
        st.number_input(
            "Held-out prompts to compare in llama.cpp",
            min_value=0,
            max_value=20,
            key="gguf_compare",
            help="Greedy answers of the GGUF in llama.cpp and of the merged model, token by token.",
        )
    else:
        st.caption(
            "llama-cpp-python is not installed: the files are checked with the gguf reader, and answers are "
            "not compared in llama.cpp."
        )
    if quantize in gguf.K_QUANTS and not has_quantizer:
        st.error(
            f"{quantize} needs llama.cpp's quantizer: install llama-cpp-python (`.venv/bin/pip install "
            "llama-cpp-python`, it compiles for a few minutes) or choose q8_0.",
            icon=":material/error:",
        )
        return
    if st.button("Export GGUF", type="primary", key="gguf_go", disabled=busy()):
        job = gguf.GGUFExport(
            run["id"],
            out_dir=Path(folder.strip()) if folder.strip() else None,
            quantize=quantize,
            include_adapter=adapter,
            include_base=bool(base),
            compare=int(st.session_state.get("gguf_compare", 0)),
        )
        st.session_state["publish_job"] = gguf.start_export(job)
        st.rerun()


def exports_list() -> None:
    records = gguf.list_exports()
    if not records:
        st.caption("No GGUF export yet.")
        return
    rows = []
    for record in records:
        manifest = record["details"].get("manifest") or {}
        comparison = manifest.get("llama_cpp_comparison") or {}
        rows.append(
            {
                "id": record["id"],
                "folder": record["name"],
                "status": record["status"],
                "quantization": record["target"].removeprefix("gguf:"),
                "files": ", ".join(f["name"] for f in manifest.get("files", {}).values()),
                "llama.cpp same answers": f"{comparison['same_answers']}/{comparison['prompts']}" if comparison else "",
                "created": record["created"],
                "error": record["details"].get("error", ""),
            }
        )
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    for record in records:
        differing = ((record["details"].get("manifest") or {}).get("llama_cpp_comparison") or {}).get("differing")
        if differing:
            with st.expander(f"{record['name']}: {len(differing)} prompt(s) where llama.cpp and transformers differ"):
                st.dataframe(pd.DataFrame(differing), hide_index=True, width="stretch")
    delete_picker(
        "Export",
        records,
        "gguf_delete",
        "Delete the export folder and its files?",
        gguf.delete_export,
        lambda r: f"{r['name']} ({r['status']})",
    )
