"""Bring in a LoRA adapter trained elsewhere (Axolotl, Unsloth, LLaMA-Factory, plain PEFT or TRL, a cluster job
exported from here, the Hugging Face cache) as a run of status *imported*: checked, copied, registered.

Checked before anything is copied, each refusal saying why and what to do: safetensors weights only (a pickled
`adapter_model.bin` can run code when loaded), a readable `adapter_config.json` of a LoRA adapter, its base
matching the chosen base by name (`base_model_name_or_path`) and by shape (every LoRA matrix against the base's
layer, read from the safetensors header and the base built on the meta device: nothing is loaded), its target
modules present in the base. The files are copied (a link is followed, never kept) into a hidden folder that
is renamed into place, so a full disk or a kill leaves no half-imported adapter. Where the folder carries its
history (the workbench's `loss_history.json`, or a trainer's `trainer_state.json`), the metrics come too.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path

from workbench import paths, store
from workbench.data import repository
from workbench.errors import WorkbenchError
from workbench.fileio import folder_in_place, need_space, write_json_atomic
from workbench.jobs import registry
from workbench.models.loading import (
    ADAPTER_WEIGHTS,
    PICKLED_WEIGHTS,
    ModelLoadError,
    import_model_libraries,
    resolve_base,
    same_base,
    same_last_part,
)
from workbench.training import runs
from workbench.training.config import TrainConfig

ADAPTER_CONFIG = "adapter_config.json"
# The files of an adapter folder that come along: weights, config, tokenizer, card, the trainer's history.
KEPT = re.compile(
    r"^(adapter_model\.safetensors|adapter_config\.json|tokenizer(_config)?\.json|special_tokens_map\.json|"
    r"added_tokens\.json|vocab\.json|merges\.txt|tokenizer\.model|chat_template\.(jinja|json)|README\.md|"
    r"trainer_state\.json|" + re.escape(paths.RUN_FILE) + "|" + re.escape(paths.HISTORY_FILE) + r")$"
)
HISTORY_NAMES = {"loss", "eval_loss", "learning_rate", "grad_norm"}
PREFIX = "base_model.model."


class ImportAdapterError(WorkbenchError, ValueError):
    """An adapter folder that cannot be brought in; the message names the file and what to do."""


@dataclass
class AdapterFolder:
    """What an adapter folder holds, read without loading a tensor."""

    source: Path
    config: dict
    files: list[Path]
    shapes: dict[str, list[int]] = field(default_factory=dict)  # tensor name -> shape, from the header

    @property
    def size(self) -> int:
        return sum(file.stat().st_size for file in self.files)


def read_folder(source: str | Path) -> AdapterFolder:
    """The adapter folder's files and config, or ImportAdapterError saying what is wrong with it."""
    folder = Path(source).expanduser()
    if not folder.is_dir():
        raise ImportAdapterError(f"{folder}: no such folder. Give the folder that holds {ADAPTER_CONFIG}.")
    folder = folder.resolve()
    weights = folder / ADAPTER_WEIGHTS
    if not weights.is_file():
        pickled = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLED_WEIGHTS)
        if pickled:
            raise ImportAdapterError(
                f"{folder / pickled[0]}: pickled weights are refused (loading a pickle can run any code). Save the "
                "adapter as safetensors where it was trained: `model.save_pretrained(folder, "
                "safe_serialization=True)`."
            )
        raise ImportAdapterError(f"{folder}: no {ADAPTER_WEIGHTS} in it. Give the folder a PEFT adapter was saved to.")
    config_file = folder / ADAPTER_CONFIG
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ImportAdapterError(
            f"{config_file}: missing. A PEFT adapter folder holds its config beside the weights; copy it from where "
            "the adapter was trained."
        ) from None
    except (OSError, ValueError) as exc:
        raise ImportAdapterError(f"{config_file}: not readable JSON ({exc}).") from exc
    if not isinstance(config, dict):
        raise ImportAdapterError(f"{config_file}: expected a JSON object.")
    kind = str(config.get("peft_type") or "")
    if kind.upper() != "LORA":
        raise ImportAdapterError(
            f'{config_file}: peft_type is {kind or "missing"!r}; only LoRA adapters (peft_type "LORA") can be '
            "served, compared and published here."
        )
    files = sorted(p for p in folder.iterdir() if KEPT.match(p.name) and p.is_file())
    return AdapterFolder(folder, config, files, shapes=safetensors_shapes(weights))


def safetensors_shapes(file: Path) -> dict[str, list[int]]:
    """Tensor name -> shape from a safetensors file's header (8-byte length, then JSON): no tensor is read."""
    try:
        with open(file, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > 100_000_000:
                raise ValueError(f"a header of {length} bytes")
            header = json.loads(handle.read(length))
            shapes = {
                name: [int(n) for n in value["shape"]] for name, value in header.items() if name != "__metadata__"
            }
    except (OSError, ValueError, struct.error, AttributeError, KeyError, TypeError) as exc:
        raise ImportAdapterError(f"{file}: not a readable safetensors file ({exc}).") from exc
    return shapes


def check_base_name(adapter: AdapterFolder, base: str) -> None:
    """Refuse an adapter whose config names another base (the last part of a path or hub id may differ in case
    or folder: `/scratch/SmolLM2-135M-Instruct` is `smollm2-135m-instruct`)."""
    claimed = str(adapter.config.get("base_model_name_or_path") or "").strip()
    if not claimed or same_base(claimed, base):
        return
    if same_last_part(claimed, {str(base), resolve_base(base)}):
        return
    raise ImportAdapterError(
        f"{adapter.source / ADAPTER_CONFIG}: base_model_name_or_path is {claimed!r}, not the base {base!r}. Import "
        f"it for the base it was trained on (prepare {claimed!r} on the Models page first)."
    )


def check_shapes(adapter: AdapterFolder, base: str) -> None:
    """Every LoRA matrix fits the base's layer it adapts, and every target module is in the base: the base is
    built on the meta device from its config (no weights read)."""
    modules = _base_modules(base)
    for name, shape in adapter.shapes.items():
        path, part = _module_of(name)
        module = modules.get(path)
        if module is None:
            raise ImportAdapterError(
                f"{adapter.source / ADAPTER_WEIGHTS}: {name} adapts {path!r}, which base {base!r} does not have. "
                "The adapter was trained on another model: import it for that base."
            )
        expected = _expected_shape(module, part, shape)
        if expected is not None and list(expected) != list(shape):
            raise ImportAdapterError(
                f"{adapter.source / ADAPTER_WEIGHTS}: {name} has shape {list(shape)} where base {base!r} needs "
                f"{list(expected)} for {path}. The adapter was trained on another model (or another size of it): "
                "import it for that base."
            )
    targets = adapter.config.get("target_modules")
    if isinstance(targets, list):
        # PEFT matches a name as the module's full path or its last part(s): 'q_proj', 'layers.0.self_attn.q_proj'
        missing = sorted(t for t in map(str, targets) if not any(p == t or p.endswith(f".{t}") for p in modules))
        if missing:
            raise ImportAdapterError(
                f"{adapter.source / ADAPTER_CONFIG}: target_modules {missing} are not layers of base {base!r}. The "
                "adapter was trained on another model: import it for that base."
            )


def _module_of(tensor: str) -> tuple[str, str]:
    """'base_model.model.model.layers.0.q_proj.lora_A.weight' -> ('model.layers.0.q_proj', 'lora_A')."""
    name = tensor.removeprefix(PREFIX)
    match = re.match(r"^(.*)\.(lora_A|lora_B|lora_embedding_A|lora_embedding_B|lora_magnitude_vector)(\..*)?$", name)
    if match:
        return match.group(1), match.group(2)
    return name.rsplit(".", 1)[0], "full"  # modules_to_save: a whole layer's weight


def _expected_shape(module, part: str, shape: list[int]) -> list[int] | None:
    rank = shape[0] if part in ("lora_A", "lora_embedding_A") else shape[-1]
    if part == "lora_A" and hasattr(module, "in_features"):
        return [rank, module.in_features]
    if part == "lora_B" and hasattr(module, "out_features"):
        return [module.out_features, rank]
    if part == "lora_embedding_A" and hasattr(module, "num_embeddings"):
        return [rank, module.num_embeddings]
    if part == "lora_embedding_B" and hasattr(module, "embedding_dim"):
        return [module.embedding_dim, rank]
    if part == "full" and getattr(module, "weight", None) is not None:
        return list(module.weight.shape)
    return None


def _base_modules(base: str) -> dict:
    import_model_libraries()
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(resolve_base(base), trust_remote_code=False)
    except (OSError, ValueError, ModelLoadError) as exc:
        raise ImportAdapterError(
            f"Base {base!r} cannot be read ({exc}). Prepare it on the Models page (or name a local model folder)."
        ) from exc
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return dict(model.named_modules())


# ------------------------------------------------------------------------------------------------ history


def history_of(adapter: AdapterFolder) -> list[dict]:
    """Metric rows ({step, epoch, name, value}) the folder carries: the workbench's own history, else a
    trainer's `trainer_state.json` log."""
    own = adapter.source / paths.HISTORY_FILE
    if own.is_file():
        try:
            rows = json.loads(own.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            rows = []
        return [r for r in rows if isinstance(r, dict) and {"step", "name", "value"} <= r.keys()]
    state = adapter.source / "trainer_state.json"
    if not state.is_file():
        return []
    try:
        log = json.loads(state.read_text(encoding="utf-8")).get("log_history") or []
    except (OSError, ValueError, AttributeError):
        return []
    rows = []
    for entry in log:
        if not isinstance(entry, dict) or not isinstance(entry.get("step"), int):
            continue
        for name in HISTORY_NAMES & entry.keys():
            if isinstance(entry[name], int | float):
                rows.append({"step": entry["step"], "epoch": entry.get("epoch"), "name": name, "value": entry[name]})
    return rows


# ------------------------------------------------------------------------------------------------ import


@dataclass(frozen=True)
class ImportRequest:
    """One adapter to bring in: the UI, the CLI and the import job use this."""

    source: str
    base: str
    name: str = ""
    dataset: str = ""

    def to_args(self) -> dict:
        return {"source": self.source, "base": self.base, "name": self.name, "dataset": self.dataset}


def check_request(request: ImportRequest) -> AdapterFolder:
    """The cheap checks (folder, files, config, dataset, name), before a job is queued: nothing is loaded."""
    if not request.base.strip():
        raise ImportAdapterError("No base given: name the base model the adapter was trained on.")
    if request.name and not runs.RUN_NAME.match(request.name):
        raise ImportAdapterError(
            f"name: {request.name!r} — use letters, digits, '.', '_' or '-' (up to 80), starting with a letter or "
            "digit."
        )
    if request.dataset:
        repository.get_revision(request.dataset, None)  # names the dataset that is missing
    adapter = read_folder(request.source)
    check_base_name(adapter, request.base)
    return adapter


def import_adapter(request: ImportRequest, say=print) -> dict:
    """Check, copy and register the adapter; returns the new run (status imported)."""
    adapter = check_request(request)
    say(f"Checking {adapter.source} against base {request.base} (shapes, target modules)…")
    check_shapes(adapter, request.base)
    name = runs.free_name(request.name or _name_from(adapter.source))
    target = paths.adapter_dir(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    need_space(target.parent, int(adapter.size * 1.05) + 1_000_000, f"importing adapter {adapter.source}")
    history = history_of(adapter)
    config = _config_of(adapter, request)
    say(f"Copying {len(adapter.files)} file(s), {adapter.size / 1e6:.1f} MB, to {target}…")
    with folder_in_place(target) as building:
        building.mkdir()
        for file in adapter.files:
            shutil.copyfile(file, building / file.name)  # a link's target, copied: nothing links out
        write_json_atomic(building / paths.RUN_FILE, _record(adapter, request, name, config))
        write_json_atomic(building / paths.HISTORY_FILE, history)
    revision_id = repository.get_revision(request.dataset, None).id if request.dataset else None
    run_id = runs.register_finished_run(
        name, config, revision_id, target, status="imported", note=str(adapter.source), metrics=history
    )
    say(f"Imported as run {name!r}: {len(history)} metric row(s) came with it.")
    return runs.get_run(run_id)


def _name_from(source: Path) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", source.name).strip("-._") or "imported"
    return cleaned[:60]


def _config_of(adapter: AdapterFolder, request: ImportRequest) -> TrainConfig:
    """The run's settings: the workbench's own record where the folder has one, else the adapter's LoRA
    settings (the training settings of another tool are not known)."""
    own = adapter.source / paths.RUN_FILE
    try:
        record = json.loads(own.read_text(encoding="utf-8")) if own.is_file() else {}
        config = TrainConfig.from_dict(record["config"]) if isinstance(record, dict) and "config" in record else None
    except (OSError, ValueError, TypeError, KeyError):
        config = None
    lora = adapter.config
    targets = lora.get("target_modules")
    base = config or TrainConfig(
        lora_r=int(lora.get("r") or 8),
        lora_alpha=int(lora.get("lora_alpha") or 16),
        lora_dropout=float(lora.get("lora_dropout") or 0.0),
        target_modules=",".join(sorted(map(str, targets))) if isinstance(targets, list) else "all-linear",
        auto_evaluate=False,
    )
    return base.with_updates(base_model=request.base, dataset=request.dataset or base.dataset, dataset_revision=None)


def _record(adapter: AdapterFolder, request: ImportRequest, name: str, config: TrainConfig) -> dict:
    """The run file of the imported copy: the workbench's own record where it came with one (final metrics, why
    it stopped), with this import's name, status, base and source."""
    own = adapter.source / paths.RUN_FILE
    try:
        earlier = json.loads(own.read_text(encoding="utf-8")) if own.is_file() else {}
    except (OSError, ValueError):
        earlier = {}
    return {
        **(earlier if isinstance(earlier, dict) else {}),
        "run": name,
        "status": "imported",
        "imported_from": str(adapter.source),
        "config": config.to_dict(),
        "base_model": request.base,
        "dataset": request.dataset or None,
        "created": store.now(),
    }


# ------------------------------------------------------------------------------------------------ the job


def start_import(request: ImportRequest) -> int:
    """Check what can be checked at once, then queue the import (shapes need the base's config and torch)."""
    check_request(request)
    from workbench.jobs import queue

    job_id = registry.create(
        "import", f"Import adapter {request.name or Path(request.source).name}", args=request.to_args()
    )
    queue.schedule()
    return job_id


def import_job(job: dict) -> tuple[str, dict]:
    """The `import` job: returns (status, result)."""
    request = ImportRequest(**{k: v for k, v in registry.args(job).items() if k in ImportRequest.__dataclass_fields__})
    registry.set_progress(job["id"], {"phase": "checking"})
    run = import_adapter(request, say=lambda line: print(line, flush=True))
    return "completed", {"run": run["name"], "run_id": run["id"]}
