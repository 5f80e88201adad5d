"""Resolving a base model name to something transformers can load, and loading its tokenizer.

A base is one of:
- "demo": the built-in demo model (built on first use, a few seconds, offline);
- the name of a prepared model: a folder under `models/` in the workspace that holds a manifest.json;
- a local folder path (config.json and tokenizer files);
- anything else is a Hugging Face hub id, loaded from the local cache or the network.

Loaded tokenizers are cached per (resolved path, trust_remote_code) and shared: callers must not change
them (copy.deepcopy one first if needed). Call `clear_tokenizer_cache()` after rebuilding a model folder.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from pathlib import Path

from workbench import paths
from workbench.errors import WorkbenchError
from workbench.models import demo

MANIFEST = "manifest.json"
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tiktoken.model",
    "vocab.txt",
)
# Set on every tokenizer `load_tokenizer` returns: True when the base had no chat template and the
# workbench put the ChatML default in (the UI should say so: the base was not trained on that format).
DEFAULT_TEMPLATE_ATTR = "workbench_default_chat_template"

# Weights in these are pickles: loading one can run any code it carries. Only safetensors are loaded.
PICKLED_WEIGHTS = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
ADAPTER_WEIGHTS = "adapter_model.safetensors"

_FIX = "Use the demo model, a prepared model, or a local folder that holds config.json and the tokenizer files."


class ModelLoadError(WorkbenchError, RuntimeError):
    """A base model or its tokenizer cannot be loaded; the message says why and what to do."""


def resolve_base(base: str) -> str:
    """The path (or hub id) that transformers should load for `base`."""
    name = str(base).strip()
    if not name:
        raise ModelLoadError("No base model given. " + _FIX)
    if name == demo.DEMO_MODEL_NAME:
        return str(demo.build_demo_model())
    if paths.is_safe_name(name) and (paths.model_dir(name) / MANIFEST).is_file():
        return str(check_safe_weights(paths.model_dir(name), "The model folder"))
    local = Path(name).expanduser()
    if local.is_dir():
        return str(check_safe_weights(local.resolve(), "The model folder"))
    return name


def check_safe_weights(folder: Path, what: str) -> Path:
    """`folder`, unless its weights are pickles only (ModelLoadError saying what to do)."""
    files = [p for p in folder.iterdir() if p.is_file()]
    if any(p.suffix == ".safetensors" for p in files):
        return folder
    pickled = sorted(p.name for p in files if p.suffix in PICKLED_WEIGHTS)
    if pickled:
        raise ModelLoadError(
            f"{what} {folder} holds {pickled[0]}, pickled weights that can run code when loaded, and no "
            "*.safetensors file: only safetensors weights are loaded. Save the model again with "
            "`save_pretrained(folder, safe_serialization=True)` on a machine you trust, or use a safetensors copy."
        )
    return folder


def check_adapter_files(folder: Path) -> Path:
    """An adapter folder is loaded only as safetensors, and only from files that stay inside the workspace
    (a symlink out of it could make the workbench read anything this user can)."""
    workspace = paths.home().resolve()
    for entry in [folder, *folder.iterdir()]:
        target = entry.resolve()
        if entry.is_symlink() and not target.is_relative_to(workspace):
            raise ModelLoadError(
                f"The adapter in {folder} is refused: {entry.name} is a link to {target}, outside the workspace "
                f"{workspace}. Copy the adapter into the workspace instead of linking it."
            )
    if not (folder / ADAPTER_WEIGHTS).is_file():
        pickled = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLED_WEIGHTS)
        found = f"it holds {pickled[0]} (pickled weights that can run code when loaded)" if pickled else "it has none"
        raise ModelLoadError(
            f"The adapter in {folder} is refused: only {ADAPTER_WEIGHTS} is loaded and {found}. Save the adapter "
            "with `save_pretrained(folder, safe_serialization=True)`, or train it again here."
        )
    return folder


def is_local(resolved: str) -> bool:
    return Path(resolved).is_dir()


_IMPORT_LOCK = threading.Lock()


def import_model_libraries() -> None:
    """Import torch, transformers and peft once, one thread at a time.

    transformers resolves its names lazily and that is not thread-safe: two threads meeting in a first
    import get "ImportError: cannot import name 'AutoTokenizer' from 'transformers'". The app runs page
    scripts in threads (a base still loading for the chat while the user opens another section), so every
    place that loads a model or a tokenizer comes through here first. Heavy, so imported here only.
    """
    with _IMPORT_LOCK:
        import peft  # noqa: F401
        import torch  # noqa: F401
        from transformers import (  # noqa: F401
            AutoConfig,
            AutoModelForCausalLM,
            AutoTokenizer,
            BitsAndBytesConfig,
            StoppingCriteria,
            StoppingCriteriaList,
        )


CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")


def context_window(base: str) -> int | None:
    """How many tokens the base reads (prompt and answer together), from its config.json; None if unsaid
    (or the base is a hub id not on this machine)."""
    config_file = Path(resolve_base(base)) / "config.json"
    if not config_file.is_file():
        return None
    config = json.loads(config_file.read_text())
    for source in (config, config.get("text_config") or {}):
        for key in CONTEXT_KEYS:
            if isinstance(source.get(key), int) and source[key] > 0:
                return source[key]
    return None


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def load_tokenizer(base: str, *, trust_remote_code: bool = False):
    """The tokenizer of `base` (see `resolve_base`), with a chat template.

    If the base has no chat template, the ChatML default is set and the tokenizer's
    `workbench_default_chat_template` attribute is True (False otherwise). Raises ModelLoadError.
    """
    return _load_tokenizer_cached(resolve_base(base), bool(trust_remote_code))


def clear_tokenizer_cache() -> None:
    _load_tokenizer_cached.cache_clear()


@functools.lru_cache(maxsize=8)
def _load_tokenizer_cached(resolved: str, trust_remote_code: bool):
    local = is_local(resolved)
    if local and not any((Path(resolved) / name).is_file() for name in TOKENIZER_FILES):
        raise ModelLoadError(
            f"The folder {resolved} holds no tokenizer files (tokenizer.json, tokenizer_config.json, "
            "tokenizer.model…). Copy the tokenizer files of the model into it, or pick another base model."
        )
    import_model_libraries()
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved, trust_remote_code=trust_remote_code)
    except Exception as exc:  # transformers raises OSError, ValueError, ImportError, hub errors…
        raise ModelLoadError(_explain(resolved, local, exc)) from exc
    missing = not getattr(tokenizer, "chat_template", None)
    if missing:
        tokenizer.chat_template = demo.CHATML_TEMPLATE
    setattr(tokenizer, DEFAULT_TEMPLATE_ATTR, missing)
    return tokenizer


def _explain(resolved: str, local: bool, exc: Exception) -> str:
    detail = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    if local:
        return (
            f"The tokenizer in {resolved} cannot be loaded ({detail}). Check that the folder holds a "
            "complete tokenizer (tokenizer.json or the files its tokenizer_config.json names); "
            "models with custom code need 'trust remote code'."
        )
    text = str(exc).lower()
    unreachable = hub_offline() or any(
        word in text for word in ("offline", "connect", "connection", "network", "resolve host", "timed out")
    )
    if unreachable:
        return (
            f"{resolved!r} is not a local folder and the Hugging Face hub cannot be reached "
            f"(HF_HUB_OFFLINE=1 or no network). {_FIX}"
        )
    return (
        f"The tokenizer of {resolved!r} cannot be loaded from the Hugging Face hub ({detail}). Check "
        f"the model id, and for gated models your access and HF_TOKEN. {_FIX}"
    )


def list_local_models() -> list[dict]:
    """Prepared models (folders under models/ with a manifest.json): the manifest plus "path".

    The demo model comes first when it is built; the rest are sorted by folder name. Unreadable
    manifests are skipped.
    """
    found = []
    root = paths.models_dir()
    for folder in sorted(root.iterdir(), key=lambda p: p.name):
        if folder.name.startswith(".") or not (folder / MANIFEST).is_file():
            continue
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(manifest, dict):
            continue
        entry = {"name": folder.name, **manifest, "path": str(folder)}
        found.append(entry)
    found.sort(key=lambda entry: Path(entry["path"]).name != demo.DEMO_MODEL_NAME)
    return found


def same_base(a: str, b: str) -> bool:
    """Whether two base-model names (catalogue names, folders, hub ids) mean the same model."""
    a, b = str(a).strip(), str(b).strip()
    if a == b:
        return True
    try:
        ra, rb = resolve_base(a), resolve_base(b)
    except ModelLoadError:
        return False
    if ra == rb:
        return True
    return is_local(ra) and is_local(rb) and Path(ra).resolve() == Path(rb).resolve()


def same_last_part(name: str, others) -> bool:
    """Whether `name`'s last path part names one of `others` (case aside): the same model under another path
    (a moved workspace, a hub id against a prepared copy, a cluster's folder)."""
    tail = Path(str(name).rstrip("/\\")).name.lower()
    return bool(tail) and tail in {Path(str(other).rstrip("/\\")).name.lower() for other in others}


# End-of-turn tokens of common chat templates; each counts as a stop token when the tokenizer has it.
END_OF_TURN_TOKENS = (
    "<|im_end|>",
    "<|eot_id|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|end_of_text|>",
    "<|return|>",
)


def stop_token_ids(tokenizer, generation_config=None) -> set[int]:
    """Ids that end an answer: the generation config's eos, the tokenizer's eos and its end-of-turn token."""
    ids: set[int] = set()
    eos = getattr(generation_config, "eos_token_id", None)
    ids.update([eos] if isinstance(eos, int) else list(eos or []))
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    vocab = tokenizer.get_vocab()
    special = set(tokenizer.all_special_tokens) | set(tokenizer.added_tokens_encoder)
    ids.update(vocab[token] for token in END_OF_TURN_TOKENS if token in vocab and token in special)
    return ids
