"""A run's adapter merged into its base: the folder that Ollama's merged route and the GGUF export start from.

`merge_run(run)` loads the base the run trained on, applies the adapter with PEFT, `merge_and_unload()`s
it and saves safetensors + config + the tokenizer the run trained with (its chat template included) in
`exports/<run name>/merged`. It writes into a temporary sibling and renames it into place, so a merge that
fails half-way (a full disk, a killed process) leaves no folder that looks finished.

`adapter_problems(adapter_dir)` says what a route cannot carry: DoRA and rsLoRA change how the update is
applied (Ollama's adapter route and llama.cpp's LoRA loader apply plain `alpha / r` scaling), and trained
embeddings or other `modules_to_save` are full weight copies, not a LoRA update. The merged route
carries all of them, since the merge is done by PEFT itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from workbench import paths
from workbench.errors import WorkbenchError
from workbench.fileio import disk_full, folder_in_place, is_disk_full, need_space
from workbench.models.loading import ModelLoadError, check_adapter_files, resolve_base
from workbench.training import runs
from workbench.training.config import TrainConfig

MERGED_DIR = "merged"
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
)


GENERATION_TAGS = re.compile(r"{%-?\s*(?:end)?generation\s*-?%}")


class PublishError(WorkbenchError, RuntimeError):
    """Publishing or exporting cannot go on; the message says why and what to do."""


def exports_dir(run: dict) -> Path:
    return paths.exports_dir(run["name"])


PUBLISHABLE = runs.WITH_ADAPTER  # a cancelled run kept its adapter (cancel --keep-best or the last save)


def adapter_dir(run: dict) -> Path:
    if run.get("status") not in PUBLISHABLE:
        raise PublishError(
            f"Run {run['name']!r} is {run.get('status') or 'not finished'}: only a finished run's adapter can be "
            "published. Wait for it to complete, or cancel it keeping its best checkpoint "
            f"(`python -m workbench runs cancel {run['name']} --keep-best`)."
        )
    if not run.get("adapter_dir"):
        raise PublishError(
            f"Run {run['name']!r} ({run['status']}) has no adapter: publish it once it has "
            "completed (or was stopped with its adapter kept)."
        )
    folder = paths.in_home(run["adapter_dir"])
    if not (folder / "adapter_config.json").is_file():
        raise PublishError(f"The adapter of run {run['name']!r} is missing from {folder}: it was moved or deleted.")
    try:
        return check_adapter_files(folder)
    except ModelLoadError as exc:
        raise PublishError(str(exc)) from exc


def adapter_config(folder: Path) -> dict:
    return json.loads((Path(folder) / "adapter_config.json").read_text(encoding="utf-8"))


def adapter_problems(folder: Path) -> list[str]:
    """Why the adapter cannot travel as a separate LoRA file (empty: it can)."""
    config = adapter_config(folder)
    problems = []
    if config.get("use_dora"):
        problems.append("it is a DoRA adapter (weight-decomposed LoRA), which Ollama's adapter route cannot apply")
    if config.get("use_rslora"):
        problems.append(
            "it uses rsLoRA scaling (alpha / sqrt(r)), which Ollama's adapter route would apply as alpha / r"
        )
    if config.get("modules_to_save"):
        problems.append(f"it trains whole modules ({', '.join(config['modules_to_save'])}), not only LoRA updates")
    targets = config.get("target_modules") or []
    targets = [targets] if isinstance(targets, str) else list(targets)
    embedded = [t for t in targets if any(word in t for word in ("embed", "lm_head", "wte"))]
    if embedded:
        problems.append(f"it puts LoRA on the embeddings ({', '.join(embedded)})")
    return problems


def merge_run(run_id: int | str, progress: Callable[[str], None] | None = None, *, force: bool = False) -> Path:
    """Merge the run's adapter into its base; returns the merged folder (reused when it is already there)."""
    run = runs.get_run(run_id)
    config = runs.run_config(run)
    source = adapter_dir(run)
    target = exports_dir(run) / MERGED_DIR
    say = progress or (lambda message: None)
    if (target / "config.json").is_file() and not force:
        say(f"Using the merged model already in {target}.")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    need_space(target.parent, _merged_bytes(config), "the merged model (about the size of the base)")
    try:
        with folder_in_place(target) as building:
            say(f"Loading the base {config.base_model!r}…")
            model, tokenizer = _load_merged(config, source, say)
            say(f"Saving the merged model (safetensors) to {target}…")
            model.save_pretrained(str(building), safe_serialization=True)
            tokenizer.save_pretrained(str(building))
            _copy_chat_template(source, building)
    except Exception as exc:
        if is_disk_full(exc):
            raise PublishError(str(disk_full(target.parent, _merged_bytes(config), "the merged model"))) from exc
        if not isinstance(exc, OSError):
            raise
        raise PublishError(
            f"Could not write the merged model to {target.parent}: {exc.strerror or exc}. Check the folder's "
            "permissions and try again."
        ) from exc
    say(f"Merged model ready in {target}.")
    return target


def _merged_bytes(config: TrainConfig) -> int:
    """The merged model is stored in the base's dtype: about the base's weights, plus its tokenizer."""
    resolved = Path(resolve_base(config.base_model))
    weights = sum(p.stat().st_size for p in resolved.glob("*.safetensors")) if resolved.is_dir() else 0
    return weights + 16 * 1024 * 1024


def _load_merged(config: TrainConfig, source: Path, say):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    resolved = resolve_base(config.base_model)
    # Merge in fp32 for exactness, then store in the base's own dtype (fp32 for a dequantized GGUF base).
    base = AutoModelForCausalLM.from_pretrained(
        resolved, dtype=torch.float32, trust_remote_code=config.trust_remote_code, use_safetensors=True
    )
    stored = getattr(base.config, "dtype", None) or getattr(base.config, "torch_dtype", None)
    try:
        model = PeftModel.from_pretrained(base, str(source))
    except (ValueError, RuntimeError, KeyError) as exc:
        raise PublishError(
            f"The adapter in {source} does not fit the base {config.base_model!r} "
            f"({_first_problem(exc)}). Was the base replaced since the run? Prepare the same base "
            "again and retry."
        ) from exc
    say("Merging the adapter into the base (merge_and_unload)…")
    merged = model.merge_and_unload()
    if isinstance(stored, str):
        stored = getattr(torch, stored, None)
    if isinstance(stored, torch.dtype) and stored != torch.float32:
        merged = merged.to(stored)
    tokenizer = AutoTokenizer.from_pretrained(str(source) if (source / "tokenizer_config.json").is_file() else resolved)
    return merged, tokenizer


def _first_problem(exc: Exception) -> str:
    """PEFT lists every mismatching tensor; the first one says enough."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    detail = next((line for line in lines if line.startswith("size mismatch")), lines[0] if lines else "")
    more = sum(line.startswith("size mismatch") for line in lines) - 1
    return detail.rstrip(".") + (f", and {more} more" if more > 0 else "")


def _copy_chat_template(source: Path, target: Path) -> None:
    """The run's own template wins over whatever save_pretrained wrote (they should agree), without the
    training-only {% generation %} markers: they render nothing, and llama.cpp's or LM Studio's template
    engines may not know the tag."""
    template = source / "chat_template.jinja"
    if not template.is_file():
        template = target / "chat_template.jinja"
    if template.is_file():
        text = GENERATION_TAGS.sub("", template.read_text(encoding="utf-8"))
        (target / "chat_template.jinja").write_text(text, encoding="utf-8")


def float_type_of(merged: Path) -> str:
    """The converter's float type that keeps the merged weights as they are."""
    config = json.loads((merged / "config.json").read_text(encoding="utf-8"))
    dtype = str(config.get("dtype") or config.get("torch_dtype") or "float32")
    return {"bfloat16": "bf16", "float16": "f16"}.get(dtype, "f32")
