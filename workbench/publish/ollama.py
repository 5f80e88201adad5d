"""Publishing a run to Ollama with the `ollama` client: plan, Modelfile preview, create, verify, record.

    spec = plan(run, "support-bot")          # route, template, stop, system, num_ctx from the run
    text = modelfile(spec)                   # shown to the user, who may edit it
    spec = apply_modelfile(spec, edited)     # TEMPLATE / SYSTEM / PARAMETER edits; FROM/ADAPTER fixed
    result = publish(spec, progress)         # blobs, create, show, one chat, held-out replay, record

Routes:
- merged: the adapter merged into the base (`merge.merge_run`), its safetensors, config and tokenizer
  files uploaded as blobs (`create_blob`) and the model created from them (`create(files=...)`),
  optionally quantized by Ollama (`quantize`).
- adapter: the base is created in Ollama once from the same folder the run trained on (`wb-base-NAME`),
  then each run only uploads its LoRA adapter (`create(from_=base, adapters=...)`). Chosen automatically
  when that base already exists in Ollama and the adapter is plain LoRA.

A step that fails deletes the model this call created and raises PublishError in plain words. Every
attempt is recorded in the `publishes` table.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from workbench.evaluation.heldout import heldout_prompts
from workbench.inference.engine import Engine, GenerationSettings, Side
from workbench.jobs import queue, registry
from workbench.models.loading import load_tokenizer, resolve_base
from workbench.publish import llama_cpp, records
from workbench.publish.merge import (
    PublishError,
    adapter_dir,
    adapter_problems,
    exports_dir,
    float_type_of,
    merge_run,
)
from workbench.publish.modelfile import modelfile_body, parse_modelfile
from workbench.publish.templates import ollama_template_for
from workbench.system import ollama_host
from workbench.training import runs

ROUTES = ("merged", "adapter")
OLLAMA_QUANTIZATIONS = ("q4_K_M", "q4_K_S", "q8_0")
# Ollama's model names: an optional namespace, the model, an optional tag.
_PART = r"[a-z0-9][a-z0-9._-]{0,79}"
NAME_RE = re.compile(rf"^(?:{_PART}/)?{_PART}(?::[A-Za-z0-9_][A-Za-z0-9._-]{{0,127}})?$")
MODEL_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
)
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
# What Ollama's own safetensors import converts (ollama/convert); other architectures go as GGUF made by
# llama.cpp's converter. Adapters: Ollama converts LoRA safetensors for llama-architecture and Gemma 2 bases only.
OLLAMA_READS_MODEL = frozenset(
    {
        "LlamaForCausalLM",
        "MistralForCausalLM",
        "MixtralForCausalLM",
        "GemmaForCausalLM",
        "Gemma2ForCausalLM",
        "Gemma3ForCausalLM",
        "Phi3ForCausalLM",
        "Qwen2ForCausalLM",
    }
)
OLLAMA_READS_ADAPTER = frozenset({"LlamaForCausalLM", "MistralForCausalLM", "Gemma2ForCausalLM"})
BASE_PREFIX = "wb-base-"
DEFAULT_REPLAY = 5
CONNECT_TIMEOUT = 5.0

Progress = Callable[[str], None]


@dataclass
class PublishSpec:
    run_id: int
    run_name: str
    name: str
    host: str
    route: str
    quantize: str | None
    template: str
    system: str
    parameters: dict = field(default_factory=dict)  # {"stop": [...], "num_ctx": N}
    base_model: str | None = None  # adapter route: the Ollama model it builds on
    family: str = ""
    weights: str = "safetensors"  # or "gguf": what is uploaded (see OLLAMA_READS_*)

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------------------- planning


def check_name(name: str) -> str:
    cleaned = (name or "").strip()
    if not NAME_RE.match(cleaned):
        raise PublishError(
            f"{cleaned!r} is not a valid Ollama model name: use lowercase letters, digits, '.', '_' "
            "and '-' (starting with a letter or digit), optionally 'namespace/' before and ':tag' "
            "after, e.g. 'support-bot' or 'acme/support-bot:v2'."
        )
    return cleaned


def base_model_name(base: str) -> str:
    """The Ollama name under which the adapter route keeps a run's base model."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", Path(base).name.lower()).strip("-._") or "base"
    return f"{BASE_PREFIX}{slug}"[:80]


def plan(
    run_id: int | str,
    name: str,
    *,
    host: str | None = None,
    route: str | None = None,
    quantize: str | None = None,
    installed: list[str] | None = None,
) -> PublishSpec:
    """Everything `publish` will do, decided from the run; nothing is written or uploaded yet.

    `installed`: the models already in Ollama, when the caller has just asked (else they are asked for)."""

    run = runs.get_run(run_id)
    config = runs.run_config(run)
    folder = adapter_dir(run)
    name = check_name(name)
    host = (host or ollama_host()).rstrip("/")
    if quantize is not None and quantize not in OLLAMA_QUANTIZATIONS:
        raise PublishError(
            f"quantize: {quantize!r} is not one Ollama offers; use one of {', '.join(OLLAMA_QUANTIZATIONS)} "
            "or none (keep the weights as they are)."
        )
    if route is not None and route not in ROUTES:
        raise PublishError(f"route: {route!r} — use 'merged' or 'adapter'.")
    problems = adapter_problems(folder)
    base_name = base_model_name(config.base_model)
    if route == "adapter" and problems:
        raise PublishError(
            f"The adapter route cannot carry this adapter: {'; '.join(problems)}. Use the merged "
            "route, which applies the adapter exactly as PEFT does."
        )
    if route is None:
        route = "adapter" if not problems and _has_model(host, base_name, installed) else "merged"
    tokenizer = _tokenizer(folder, config)
    translated = ollama_template_for(tokenizer, config.system_prompt)
    parameters = {"stop": list(translated.stop), "num_ctx": int(config.max_length)}
    readable = OLLAMA_READS_ADAPTER if route == "adapter" else OLLAMA_READS_MODEL
    architectures = _architectures(config.base_model)
    weights = "gguf" if architectures and not set(architectures) & readable else "safetensors"
    return PublishSpec(
        run_id=run["id"],
        run_name=run["name"],
        name=name,
        host=host,
        route=route,
        quantize=quantize,
        template=translated.template,
        system=config.system_prompt if config.system_prompt.strip() else (translated.default_system or ""),
        parameters=parameters,
        base_model=base_name if route == "adapter" else None,
        family=translated.family,
        weights=weights,
    )


def _architectures(base: str) -> list[str]:
    """The base's `architectures` from its config.json ([] when it is not on disk)."""

    config = Path(resolve_base(base)) / "config.json"
    if not config.is_file():
        return []
    return list(json.loads(config.read_text(encoding="utf-8")).get("architectures") or [])


def _tokenizer(folder: Path, config):
    from transformers import AutoTokenizer

    if (folder / "tokenizer_config.json").is_file():
        return AutoTokenizer.from_pretrained(str(folder))
    return load_tokenizer(config.base_model, trust_remote_code=config.trust_remote_code)


# ------------------------------------------------------------------------------------------ Modelfile


def modelfile(spec: PublishSpec) -> str:
    """The Modelfile equivalent of what `publish` sends (shown before publishing; editable)."""
    lines = []
    weights = "GGUF made by llama.cpp's converter" if spec.weights == "gguf" else "safetensors"
    if spec.route == "merged":
        lines.append(f"FROM ./merged   # run {spec.run_name}: adapter merged into its base, {weights}")
    else:
        lines.append(f"FROM {spec.base_model}")
        lines.append(f"ADAPTER ./adapter   # run {spec.run_name}: LoRA adapter, {weights}")
    if spec.quantize:
        lines.append(f"# quantized by Ollama on create: {spec.quantize}")
    return "\n".join([*lines, *modelfile_body(spec.template, spec.system, spec.parameters)]) + "\n"


def apply_modelfile(spec: PublishSpec, text: str) -> PublishSpec:
    """Take TEMPLATE, SYSTEM and PARAMETER lines from an edited Modelfile; FROM/ADAPTER must stay as planned."""
    template, system, parameters = parse_modelfile(text)
    return replace(spec, template=template, system=system, parameters=parameters or spec.parameters)


# ------------------------------------------------------------------------------------------ publishing


def client_for(host: str):
    import ollama

    return ollama.Client(host=host, timeout=None)


def connection(host: str) -> dict:
    """{"version", "models"} of the Ollama server at `host`, or PublishError saying how to start it."""
    import httpx

    try:
        version = httpx.get(f"{host}/api/version", timeout=CONNECT_TIMEOUT).json().get("version", "?")
        models = httpx.get(f"{host}/api/tags", timeout=CONNECT_TIMEOUT).json().get("models", [])
    except (httpx.HTTPError, ValueError) as exc:
        raise PublishError(
            f"Ollama is not running at {host} — start it with `ollama serve` (or set the host to "
            f"where it runs). ({type(exc).__name__})"
        ) from exc
    return {"version": version, "models": sorted(m.get("model") or m.get("name") for m in models)}


def _has_model(host: str, name: str, installed: list[str] | None = None) -> bool:
    if installed is None:
        try:
            installed = connection(host)["models"]
        except PublishError:
            return False
    return any(m == name or m.split(":")[0] == name for m in installed)


def publish(spec: PublishSpec, progress: Progress | None = None, *, replay: int = DEFAULT_REPLAY, client=None) -> dict:
    """Create the model in Ollama, verify it and record the attempt; returns the publishes record."""
    say = progress or (lambda message: None)
    client = client or client_for(spec.host)
    record_id = _record(spec, "running", {})
    created = False
    try:
        server = connection(spec.host)
        say(f"Ollama {server['version']} at {spec.host}.")
        request: dict[str, object]
        if spec.route == "merged":
            request = {"files": _model_files(client, spec, merge_run(spec.run_id, say), say)}
        else:
            request = {
                "from_": _ensure_base(client, spec, server["models"], say),
                "adapters": _adapter_files(client, spec, say),
            }
        say(f"Creating {spec.name}…")
        created = True
        for update in client.create(
            model=spec.name,
            quantize=spec.quantize,
            template=spec.template,
            system=spec.system or None,
            parameters=spec.parameters,
            stream=True,
            **request,
        ):
            if getattr(update, "status", None):
                say(f"ollama: {update.status}")
        verification = verify(client, spec, say, replay=replay)
    except BaseException as exc:
        reason = "Stopped (Ctrl+C)." if isinstance(exc, KeyboardInterrupt) else _reason(exc, spec)
        if created:
            _delete_quietly(client, spec.name, say)
        records.finish(record_id, "failed", {"error": reason})
        if isinstance(exc, PublishError | KeyboardInterrupt | SystemExit):
            raise
        raise PublishError(reason) from exc
    details = {"verification": verification}
    records.finish(record_id, "published", details)
    say(f"Published: `ollama run {spec.name}`.")
    return records.get_record(record_id)


def _model_files(client, spec: PublishSpec, folder: Path, say: Progress) -> dict[str, str]:
    """The model's files as uploaded blobs: its safetensors folder, or one GGUF where Ollama cannot read it."""
    architectures = set(_architectures(str(folder)))
    if not architectures or architectures & OLLAMA_READS_MODEL:
        return _upload_folder(client, folder, say)

    with _scratch(spec) as scratch:
        scratch = Path(scratch)
        target = scratch / "model.gguf"
        say("Ollama cannot read this architecture's safetensors: converting to GGUF with llama.cpp's converter…")
        llama_cpp.run_converter(
            llama_cpp.MODEL_SCRIPT, [str(folder), "--outfile", str(target), "--outtype", float_type_of(folder)], say
        )
        return _upload(client, scratch, ["model.gguf"], say)


def _adapter_files(client, spec: PublishSpec, say: Progress) -> dict[str, str]:
    """The LoRA adapter as uploaded blobs: safetensors, or GGUF where Ollama cannot convert it itself."""
    folder = adapter_dir(runs.get_run(spec.run_id))
    if spec.weights != "gguf":
        return _upload(client, folder, ADAPTER_FILES, say)

    base = resolve_base(runs.run_config(runs.get_run(spec.run_id)).base_model)
    with _scratch(spec) as scratch:
        scratch = Path(scratch)
        target = scratch / "adapter.gguf"
        say("Ollama cannot convert LoRA safetensors for this architecture: converting the adapter to GGUF…")
        llama_cpp.run_converter(
            llama_cpp.ADAPTER_SCRIPT, ["--base", base, "--outfile", str(target), "--outtype", "f32", str(folder)], say
        )
        return _upload(client, scratch, ["adapter.gguf"], say)


def _scratch(spec: PublishSpec):
    """A folder for converted files, gone after the upload (Ollama keeps its own copy of each blob)."""

    parent = exports_dir(runs.get_run(spec.run_id))
    parent.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix=".ollama-upload-", dir=parent)


def _upload_folder(client, folder: Path, say: Progress) -> dict[str, str]:
    names = [
        *MODEL_FILES,
        *sorted(p.name for p in folder.glob("*.safetensors")),
        *(["model.safetensors.index.json"] if (folder / "model.safetensors.index.json").is_file() else []),
    ]
    return _upload(client, folder, names, say)


def _upload(client, folder: Path, names, say: Progress) -> dict[str, str]:
    files = {}
    for name in names:
        path = Path(folder) / name
        if not path.is_file():
            continue
        say(f"Uploading {name} ({path.stat().st_size / 1e6:.1f} MB)…")
        files[name] = client.create_blob(path)
    if not any(name.endswith((".safetensors", ".gguf")) for name in files):
        raise PublishError(f"No safetensors weights in {folder}: nothing to create the model from.")
    return files


def _ensure_base(client, spec: PublishSpec, installed: list[str], say: Progress) -> str:
    """The adapter route's base in Ollama, created from the folder the run trained on when missing."""

    base = runs.run_config(runs.get_run(spec.run_id)).base_model
    name = spec.base_model or base_model_name(base)
    folder = Path(resolve_base(base))
    if _has_model(spec.host, name, installed):
        _check_same_base(client, name, folder)
        say(f"Base {name} is already in Ollama (same shape as the run's base).")
        return name
    if not folder.is_dir():
        raise PublishError(
            f"The base of run {spec.run_name!r} is not a local folder, so it cannot be uploaded to "
            "Ollama: use the merged route."
        )
    say(f"Creating the base {name} in Ollama from {folder} (once per base)…")
    files = _model_files(client, spec, folder, say)
    for update in client.create(model=name, files=files, template=spec.template, stream=True):
        if getattr(update, "status", None):
            say(f"ollama: {update.status}")
    return name


def _check_same_base(client, name: str, folder: Path) -> None:
    """The base already in Ollama must have the run's base's shape, or the adapter would be applied to another
    model (an adapter of the wrong shape fails; one of the right shape on other weights answers wrongly)."""
    config_file = folder / "config.json"
    if not config_file.is_file():
        return
    config = json.loads(config_file.read_text(encoding="utf-8"))
    info = client.show(name).modelinfo or {}
    architecture = info.get("general.architecture", "")
    pairs = {
        "hidden size": (info.get(f"{architecture}.embedding_length"), config.get("hidden_size")),
        "layers": (info.get(f"{architecture}.block_count"), config.get("num_hidden_layers")),
        "vocabulary": (info.get(f"{architecture}.vocab_size"), config.get("vocab_size")),
    }
    differing = [
        f"{what} {theirs} vs {ours}"
        for what, (theirs, ours) in pairs.items()
        if theirs is not None and ours is not None and int(theirs) != int(ours)
    ]
    if differing:
        raise PublishError(
            f"The Ollama model {name} is not the base this run trained on ({', '.join(differing)} in "
            f"Ollama vs the run's base): remove it with `ollama rm {name}` and publish again (it is "
            "then created from the run's base), or use the merged route."
        )


def verify(client, spec: PublishSpec, say: Progress, *, replay: int = DEFAULT_REPLAY) -> dict:
    """`show` must list the template, the stop parameters (and the adapter); one chat must answer; then
    held-out prompts are replayed through Ollama and the in-app adapter (greedy) and compared."""
    shown = client.show(spec.name)
    problems = []
    if (shown.template or "").strip() != spec.template.strip():
        problems.append("the template Ollama stored differs from the one sent")
    for stop in spec.parameters.get("stop", []):
        if stop not in (shown.parameters or ""):
            problems.append(f"the stop parameter {stop!r} is missing")
    if spec.route == "adapter" and "ADAPTER" not in (shown.modelfile or ""):
        problems.append("the adapter is missing from the model")
    if problems:
        raise PublishError(f"Ollama created {spec.name} but {'; '.join(problems)}.")
    say("Checked with `show`: template, stop parameters" + (" and adapter" if spec.route == "adapter" else "") + ".")
    answer = client.chat(
        model=spec.name, messages=[{"role": "user", "content": "Hello"}], options={"num_predict": 16, "temperature": 0}
    )
    if not (answer.message.content or "").strip():
        raise PublishError(f"{spec.name} was created but gave an empty answer to a one-word chat.")
    say("One short chat answered.")
    return {"show": "ok", "chat": answer.message.content[:200], **replay_heldout(client, spec, replay, say)}


def replay_heldout(client, spec: PublishSpec, count: int, say: Progress) -> dict:
    """Greedy answers from Ollama and from the in-app engine on `count` validation prompts, compared."""
    if count <= 0:
        return {"replayed": 0, "agreed": 0, "differing": []}

    run = runs.get_run(spec.run_id)
    config = runs.run_config(run)
    prompts = heldout_prompts(run, count)
    if not prompts:
        return {"replayed": 0, "agreed": 0, "differing": []}
    say(f"Replaying {len(prompts)} held-out prompt(s) through Ollama and the app…")
    quantization = "4bit" if config.method == "qlora" else "none"  # the adapter as it was trained
    engine = Engine(config.base_model, quantization=quantization, trust_remote_code=config.trust_remote_code)
    try:
        name = engine.attach(str(adapter_dir(run)), run["name"])
        settings = GenerationSettings(
            system_prompt="",
            temperature=0.0,
            top_p=1.0,
            max_new_tokens=256,
            repetition_penalty=1.0,
            seed=config.seed,
            greedy=True,
        )
        app = engine.generate([Side(name, messages) for messages, _ in prompts], settings)
    finally:
        engine.unload()
    differing, agreed = [], 0
    for (messages, _), mine in zip(prompts, app, strict=True):
        theirs = client.chat(
            model=spec.name,
            messages=messages,
            options={"temperature": 0, "top_k": 1, "seed": config.seed, "num_predict": 256},
        )
        text = (theirs.message.content or "").strip()
        if text == mine.text.strip():
            agreed += 1
        else:
            differing.append({"prompt": messages[-1]["content"], "app": mine.text.strip(), "ollama": text})
    say(f"{agreed} of {len(prompts)} held-out answers agree word for word.")
    return {"replayed": len(prompts), "agreed": agreed, "differing": differing}


def _delete_quietly(client, name: str, say: Progress) -> None:
    try:
        client.delete(name)
        say(f"Deleted the half-made {name}.")
    except Exception:  # the server may be gone; nothing more to do
        say(f"Could not delete {name}: remove it with `ollama rm {name}`.")


def _reason(exc: BaseException, spec: PublishSpec) -> str:
    import httpx

    if isinstance(exc, PublishError):
        return str(exc)
    if isinstance(exc, httpx.TransportError | ConnectionError):
        return f"Ollama is not running at {spec.host} (or went away) — start it with `ollama serve` and publish again."
    error = getattr(exc, "error", None)
    if error:
        return f"Ollama refused: {error}"
    if isinstance(exc, OSError) and exc.errno == 28:
        return "The disk is full: free some space and publish again."
    return f"{type(exc).__name__}: {exc}"


# ----------------------------------------------------------------------------------------------- records


def _record(spec: PublishSpec, status: str, details: dict) -> int:
    return records.start(
        spec.run_id, f"ollama:{spec.route}", spec.name, spec.host, status, {"spec": spec.to_dict(), **details}
    )


def list_publishes(run_id: int | None = None) -> list[dict]:
    return [r for r in records.list_records(run_id) if r["target"].startswith("ollama:")]


def delete_published(record_id: int, *, client=None) -> None:
    """Remove the model from Ollama (if it is still there) and its record."""
    row = records.get_record(record_id)
    client = client or client_for(row["host"])
    try:
        client.delete(row["name"])
    except Exception as exc:
        if getattr(exc, "status_code", None) != 404:
            raise PublishError(
                f"Could not delete {row['name']} from Ollama at {row['host']}: {getattr(exc, 'error', exc)}"
            ) from exc
    records.delete(record_id)


# ---------------------------------------------------------------------------------------- background


def publish_log(spec: PublishSpec) -> Path:
    return exports_dir(runs.get_run(spec.run_id)) / f"publish-{spec.name.replace('/', '_').replace(':', '_')}.log"


def start_publish(spec: PublishSpec, replay: int = DEFAULT_REPLAY) -> int:
    """Queue a publish job for `spec` (the app's Publish button), the Modelfile as planned or edited with it;
    it starts when the device is free. Returns the job id."""
    job_id = registry.create(
        "publish",
        f"Publish {spec.run_name} to Ollama as {spec.name}",
        run_id=spec.run_id,
        log=publish_log(spec),
        args={
            "run": spec.run_id,
            "name": spec.name,
            "host": spec.host,
            "route": spec.route,
            "quantize": spec.quantize,
            "replay": replay,
            "modelfile": modelfile(spec),
        },
    )
    queue.schedule()
    return job_id


def publish_job(job: dict) -> tuple[str, dict]:
    """The `publish` kind's handler: plan again from the run (the files may have changed since), apply the
    Modelfile the user saw, create and verify the model; returns (completed, the record's outcome)."""
    args = registry.args(job)
    spec = plan(args["run"], args["name"], host=args["host"], route=args["route"], quantize=args["quantize"])
    spec = apply_modelfile(spec, args["modelfile"])
    print(
        f"Publishing run {spec.run_name} to Ollama at {spec.host} as {spec.name} ({spec.route} route"
        + (f", {spec.quantize}" if spec.quantize else "")
        + ")…",
        flush=True,
    )
    record = publish(spec, lambda line: print(f"  {line}", flush=True), replay=int(args["replay"]))
    verification = record["details"]["verification"]
    print(
        f"Published {spec.name}: held-out replay {verification['agreed']}/{verification['replayed']} identical. "
        f"Try it: ollama run {spec.name}",
        flush=True,
    )
    return "completed", {
        "record_id": record["id"],
        "model": spec.name,
        "agreed": verification["agreed"],
        "replayed": verification["replayed"],
    }
