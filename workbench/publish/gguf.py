"""GGUF export for llama.cpp, LM Studio and Ollama users: a run as ready-to-use files in one folder.

    result = export_gguf(GGUFExport(run_id, quantize="q8_0"), progress)

writes, into `exports/<run>/gguf-<quantization>` (or the folder given):
    <run>-<quantization>.gguf   the adapter merged into its base, converted by llama.cpp's own converter
    <run>-lora-<float>.gguf     the adapter alone (plain LoRA only), for `llama-cli --lora` over the base
    Modelfile                   `ollama create NAME -f Modelfile` with the run's template, stop and system
    README.md                   what the files are, how to run them, what was checked
    export.json                 the same as data: run, files with sha256, checks

Every file is checked with the `gguf` reader (architecture, tensor names, chat template, end-of-turn token,
adapter metadata). Where llama-cpp-python is installed, the merged GGUF also answers a few held-out prompts
greedily next to the merged model in transformers and the two are compared token by token.

q8_0, f16, bf16 and f32 come straight from the converter; the K-quants (q4_K_M…) need llama.cpp's quantizer,
which llama-cpp-python carries. The folder is built as a hidden sibling and renamed into place, so a
failure (a full disk, a converter error) leaves nothing that looks like an export.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import importlib.util
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from workbench import store
from workbench.evaluation.heldout import heldout_prompts
from workbench.fileio import folder_in_place, free_bytes, write_json_atomic, write_text_atomic
from workbench.jobs import queue, registry
from workbench.models.catalog import source_gguf
from workbench.models.loading import resolve_base
from workbench.publish import llama_cpp, records
from workbench.publish.merge import (
    PublishError,
    adapter_config,
    adapter_dir,
    adapter_problems,
    exports_dir,
    float_type_of,
    merge_run,
)
from workbench.publish.modelfile import modelfile_body
from workbench.publish.templates import ollama_template_for
from workbench.training import runs

FLOAT_TYPES = ("f32", "f16", "bf16")
CONVERTER_TYPES = (*FLOAT_TYPES, "q8_0")  # written by convert_hf_to_gguf.py itself
K_QUANTS = ("q4_K_M", "q4_K_S", "q5_K_M", "q6_K")  # need llama.cpp's quantizer (llama-cpp-python)
GGUF_QUANTIZATIONS = (*CONVERTER_TYPES, *K_QUANTS)
DEFAULT_QUANTIZATION = "q8_0"
# Approximate bytes per weight of each type (block scales included), for the disk-space check.
BYTES_PER_WEIGHT = {
    "f32": 4.0,
    "f16": 2.0,
    "bf16": 2.0,
    "q8_0": 1.07,
    "q4_K_M": 0.61,
    "q4_K_S": 0.57,
    "q5_K_M": 0.71,
    "q6_K": 0.83,
}
FILE_TYPE = {"f32": 0, "f16": 1, "q8_0": 7, "q4_K_S": 14, "q4_K_M": 15, "q5_K_M": 17, "q6_K": 18, "bf16": 32}
MANIFEST = "export.json"
DEFAULT_COMPARE = 3
COMPARE_TOKENS = 24
SPACE_MARGIN = 1.15

Progress = Callable[[str], None]


@dataclass
class GGUFExport:
    """One GGUF export, as the page, the CLI and the background process describe it."""

    run_id: int | str
    out_dir: Path | None = None  # default: exports/<run>/gguf-<quantize>
    quantize: str = DEFAULT_QUANTIZATION
    include_adapter: bool = True  # also write the adapter alone (plain LoRA only)
    include_base: bool = False  # and the base as GGUF, to apply the adapter to in llama.cpp
    compare: int = DEFAULT_COMPARE  # held-out prompts compared with llama-cpp-python, where installed


def default_out_dir(run: dict, quantize: str) -> Path:
    return exports_dir(run) / f"gguf-{quantize}"


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "model"


def export_gguf(job: GGUFExport, progress: Progress | None = None) -> dict:
    """Write the export folder and record it; returns the manifest (also saved as export.json)."""
    say = progress or (lambda message: None)
    run = runs.get_run(job.run_id)
    config = runs.run_config(run)
    if job.quantize not in GGUF_QUANTIZATIONS:
        raise PublishError(f"quantize: {job.quantize!r} is not offered; use one of {', '.join(GGUF_QUANTIZATIONS)}.")
    if job.quantize in K_QUANTS and not has_llama_cpp():
        raise PublishError(
            f"{job.quantize} needs llama.cpp's quantizer, which comes with llama-cpp-python: install "
            "it (`.venv/bin/pip install llama-cpp-python`, it compiles llama.cpp for a few minutes) or "
            f"choose {', '.join(CONVERTER_TYPES)}. Publishing to Ollama can also quantize to q4_K_M."
        )
    out = Path(job.out_dir) if job.out_dir else default_out_dir(run, job.quantize)
    _check_target(out)
    adapter = adapter_dir(run)
    skipped = adapter_problems(adapter) if job.include_adapter else ["not asked for"]
    _check_space(out, run, job.quantize)
    record_id = _record(run, out, job, "running")
    try:
        with folder_in_place(out) as building:
            merged = merge_run(run["id"], say)
            float_type = float_type_of(merged)
            building.mkdir(parents=True)
            model_file = building / f"{slug(run['name'])}-{job.quantize}.gguf"
            convert_model(merged, model_file, job.quantize, float_type, run["name"], say)
            adapter_file = None
            if not skipped:
                adapter_file = building / f"{slug(run['name'])}-lora-{float_type}.gguf"
                say("Converting the adapter alone to GGUF…")
                llama_cpp.run_converter(
                    llama_cpp.ADAPTER_SCRIPT,
                    ["--base", str(merged), "--outfile", str(adapter_file), "--outtype", float_type, str(adapter)],
                    say,
                )
            base_file = (
                _write_base(building, config.base_model, float_type, say) if adapter_file and job.include_base else None
            )
            say("Checking the files with the gguf reader…")
            checks = {"model": check_model_file(model_file, merged, job.quantize)}
            if adapter_file:
                checks["adapter"] = check_adapter_file(adapter_file, adapter)
            if base_file:
                checks["base"] = check_base_file(base_file, checks["model"]["architecture"])
            problems = [p for part in checks.values() for p in part["problems"]]
            if problems:
                raise PublishError("The GGUF export did not check out: " + "; ".join(problems))
            comparison = compare_with_llama_cpp(model_file, merged, run, job.compare, say)
            if comparison and base_file:
                say("Comparing the adapter applied to the base in llama.cpp with the merged model…")
                comparison["adapter_over_base"] = compare_with_llama_cpp(
                    base_file, merged, run, job.compare, say, lora=adapter_file
                )
            files = (model_file, adapter_file, skipped, checks, comparison, base_file)
            manifest = _manifest(run, config, job, out, *files)
            _write_companions(building, run, config, merged, manifest)
    except BaseException as exc:
        reason = _reason(exc)
        records.finish(record_id, "failed", {"error": reason})
        if isinstance(exc, PublishError | KeyboardInterrupt | SystemExit):
            raise
        raise PublishError(reason) from exc
    records.finish(record_id, "exported", {"manifest": manifest})
    say(f"GGUF export ready in {out}.")
    return manifest


# ------------------------------------------------------------------------------------------- preflight


def _check_target(out: Path) -> None:
    """The folder must be new, empty, or an earlier export of ours (which is then replaced whole)."""
    if out.exists() and not out.is_dir():
        raise PublishError(f"{out} is a file: choose a folder for the export.")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise PublishError(f"{out} already holds other files: choose an empty or new folder (nothing was written).")


def _weights_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).glob("*.safetensors"))


def _check_space(out: Path, run: dict, quantize: str) -> None:
    """Refuse before writing anything when the disk cannot hold the merged model and the GGUF files."""

    merged = exports_dir(run) / "merged"
    base = Path(resolve_base(runs.run_config(run).base_model))
    stored = _weights_bytes(merged) if (merged / "config.json").is_file() else 0
    source = stored or (_weights_bytes(base) if base.is_dir() else 0)
    if not source:
        return  # a hub model not on disk: its size is unknown until it is loaded
    config = json.loads(((merged if stored else base) / "config.json").read_text(encoding="utf-8"))
    width = 2 if str(config.get("dtype") or config.get("torch_dtype")) in ("float16", "bfloat16") else 4
    weights = source / width
    needed = weights * BYTES_PER_WEIGHT[quantize] + (0 if stored else source)
    if quantize in K_QUANTS:
        needed += weights * width  # the float GGUF the quantizer reads
    needed = needed * SPACE_MARGIN + 2 * _weights_bytes(adapter_dir(run))
    probe = next((p for p in (out, *out.parents) if p.exists()), Path("/"))
    free = free_bytes(probe)
    if free < needed:
        raise PublishError(
            f"Not enough disk space for the export in {probe}: it needs about {needed / 1e9:.2f} GB, "
            f"{free / 1e9:.2f} GB are free. Free some space or choose a folder on another disk "
            "(nothing was written)."
        )


def has_llama_cpp() -> bool:

    return importlib.util.find_spec("llama_cpp") is not None


# ----------------------------------------------------------------------------------------- conversion


def convert_model(merged: Path, target: Path, quantize: str, float_type: str, name: str, say: Progress) -> None:
    direct = quantize if quantize in CONVERTER_TYPES else float_type
    first = target if quantize in CONVERTER_TYPES else target.with_name(f".{target.stem}-{float_type}.gguf")
    say(f"Converting the merged model to GGUF ({direct}) with llama.cpp's converter…")
    llama_cpp.run_converter(
        llama_cpp.MODEL_SCRIPT, [str(merged), "--outfile", str(first), "--outtype", direct, "--model-name", name], say
    )
    if first != target:
        say(f"Quantizing to {quantize} with llama.cpp's quantizer…")
        quantize_file(first, target, quantize)
        first.unlink()


def _write_base(folder: Path, base_model: str, float_type: str, say: Progress) -> Path:
    """The base the run trained on as GGUF: the very file it was prepared from where there is one (a link when
    the disk allows), else converted from its folder in the weights' own float type."""

    original = source_gguf(base_model)
    if original:
        target = folder / original.name.split("-", 1)[1]  # without the cache's hash prefix
        say(f"Adding the base as the GGUF it was prepared from ({target.name}, the exact weights trained on)…")
        try:
            os.link(original, target)
        except OSError:
            shutil.copyfile(original, target)
        return target
    resolved = Path(resolve_base(base_model))
    if not (resolved / "config.json").is_file():
        raise PublishError(
            f"The base {base_model!r} is not on disk, so it cannot be written as GGUF: export "
            "without the base, or prepare it on the Models page first."
        )
    target = folder / f"{slug(resolved.name)}-base-{float_type}.gguf"
    say(f"Converting the base to GGUF ({float_type})…")
    llama_cpp.run_converter(
        llama_cpp.MODEL_SCRIPT, [str(resolved), "--outfile", str(target), "--outtype", float_type], say
    )
    return target


def quantize_file(source: Path, target: Path, quantize: str) -> None:
    import llama_cpp as llama

    params = llama.llama_model_quantize_default_params()
    params.ftype = getattr(llama, f"LLAMA_FTYPE_MOSTLY_{quantize.upper()}")
    status = llama.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params))
    if status != 0 or not target.is_file():
        raise PublishError(f"llama.cpp's quantizer failed on {source.name} ({quantize}, status {status}).")


# --------------------------------------------------------------------------------------------- checks


def read_gguf(path: Path) -> tuple[dict, list[str]]:
    """(metadata without the vocabulary arrays, tensor names) of a GGUF file."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    metadata = {}
    for key, field in reader.fields.items():
        if key.startswith(
            (
                "tokenizer.ggml.tokens",
                "tokenizer.ggml.merges",
                "tokenizer.ggml.token_type",
                "tokenizer.ggml.scores",
                "GGUF.",
            )
        ):
            continue
        try:
            metadata[key] = field.contents()
        except (ValueError, IndexError, TypeError):
            continue
    return metadata, [tensor.name for tensor in reader.tensors]


def check_model_file(path: Path, merged: Path, quantize: str) -> dict:
    """Architecture, tensors, file type, chat template and end-of-turn token of the merged GGUF."""
    from transformers import AutoTokenizer

    metadata, tensors = read_gguf(path)
    problems = []
    architecture = metadata.get("general.architecture")
    if not architecture:
        problems.append(f"{path.name} names no architecture")
    if "token_embd.weight" not in tensors:
        problems.append(f"{path.name} has no token embedding (token_embd.weight)")
    blocks = json.loads((merged / "config.json").read_text(encoding="utf-8")).get("num_hidden_layers") or 0
    missing = [n for n in range(blocks) if not any(t.startswith(f"blk.{n}.") for t in tensors)]
    if missing:
        problems.append(f"{path.name} lacks the tensors of block(s) {', '.join(map(str, missing))} of {blocks}")
    if metadata.get("general.file_type") != FILE_TYPE[quantize]:
        problems.append(f"{path.name} is file type {metadata.get('general.file_type')}, not {quantize}")
    tokenizer = AutoTokenizer.from_pretrained(str(merged))
    if (metadata.get("tokenizer.chat_template") or "").strip() != (tokenizer.chat_template or "").strip():
        problems.append(f"{path.name} does not carry the run's chat template")
    if tokenizer.eos_token_id is not None and metadata.get("tokenizer.ggml.eos_token_id") != tokenizer.eos_token_id:
        problems.append(
            f"{path.name} ends turns with token {metadata.get('tokenizer.ggml.eos_token_id')}, the "
            f"run with {tokenizer.eos_token_id} ({tokenizer.eos_token})"
        )
    return {
        "file": path.name,
        "architecture": architecture,
        "tensors": len(tensors),
        "file_type": metadata.get("general.file_type"),
        "eos_token_id": metadata.get("tokenizer.ggml.eos_token_id"),
        "chat_template": bool(metadata.get("tokenizer.chat_template")),
        "problems": problems,
    }


def check_adapter_file(path: Path, adapter: Path) -> dict:
    """general.type adapter, LoRA alpha as trained, an A and a B tensor for every LoRA pair."""
    from safetensors import safe_open

    metadata, tensors = read_gguf(path)
    config = adapter_config(adapter)
    with safe_open(str(adapter / "adapter_model.safetensors"), "pt") as weights:
        pairs = sum(1 for key in weights.keys() if key.endswith("lora_A.weight"))  # noqa: SIM118 (no __iter__)
    problems = []
    if metadata.get("general.type") != "adapter" or metadata.get("adapter.type") != "lora":
        problems.append(f"{path.name} is not marked as a LoRA adapter")
    if metadata.get("adapter.lora.alpha") != float(config.get("lora_alpha", 0)):
        problems.append(
            f"{path.name} has LoRA alpha {metadata.get('adapter.lora.alpha')}, the run {config.get('lora_alpha')}"
        )
    lora_a = [t for t in tensors if t.endswith(".lora_a")]
    lora_b = [t for t in tensors if t.endswith(".lora_b")]
    if len(lora_a) != pairs or len(lora_b) != pairs:
        problems.append(f"{path.name} has {len(lora_a)} A and {len(lora_b)} B tensors for {pairs} LoRA pairs")
    return {
        "file": path.name,
        "architecture": metadata.get("general.architecture"),
        "tensors": len(tensors),
        "lora_alpha": metadata.get("adapter.lora.alpha"),
        "rank": config.get("r"),
        "problems": problems,
    }


def check_base_file(path: Path, architecture: str | None) -> dict:
    metadata, tensors = read_gguf(path)
    problems = []
    if metadata.get("general.architecture") != architecture:
        problems.append(f"{path.name} is a {metadata.get('general.architecture')} model, the run's a {architecture}")
    if "token_embd.weight" not in tensors:
        problems.append(f"{path.name} has no token embedding (token_embd.weight)")
    return {
        "file": path.name,
        "architecture": metadata.get("general.architecture"),
        "tensors": len(tensors),
        "file_type": metadata.get("general.file_type"),
        "problems": problems,
    }


def compare_with_llama_cpp(
    model_file: Path, merged: Path, run: dict, count: int, say: Progress, lora: Path | None = None
) -> dict | None:
    """Greedy answers of the GGUF in llama.cpp and of the merged model in transformers, token by token.

    None when llama-cpp-python is not installed or there are no held-out prompts."""
    if count <= 0 or not has_llama_cpp():
        return None

    prompts = [messages for messages, _ in heldout_prompts(run, count)]
    if not prompts:
        return None
    say(
        f"Comparing greedy answers of the GGUF (llama.cpp) and the merged model (transformers) on "
        f"{len(prompts)} held-out prompt(s)…"
    )
    return greedy_agreement(model_file, merged, prompts, lora=lora)


def greedy_agreement(
    model_file: Path,
    merged: Path,
    prompts: list[list[dict]],
    max_new_tokens: int = COMPARE_TOKENS,
    lora: Path | None = None,
) -> dict:
    """`model_file` (with the `lora` GGUF applied, if given) in llama.cpp against the merged model in
    transformers: same prompt tokens? same greedy answer?"""
    import llama_cpp as llama
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(merged))
    model = AutoModelForCausalLM.from_pretrained(str(merged), dtype=torch.float32, use_safetensors=True).eval()
    engine = llama.Llama(
        model_path=str(model_file), n_ctx=2048, verbose=False, logits_all=False, lora_path=str(lora) if lora else None
    )
    results = []
    try:
        for messages in prompts:
            text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            # As apply_chat_template tokenizes: the template writes any BOS itself, none is added.
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            theirs_ids = engine.tokenize(text.encode(), add_bos=False, special=True)
            with torch.no_grad():
                output = model.generate(
                    torch.tensor([ids]),
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    eos_token_id=tokenizer.eos_token_id,
                    pad_token_id=tokenizer.pad_token_id,
                )
            mine = output[0, len(ids) :].tolist()
            theirs = _llama_greedy(engine, ids, max_new_tokens, tokenizer.eos_token_id)
            results.append(
                {
                    "prompt": messages[-1]["content"],
                    "same_tokens": theirs_ids == ids,
                    "same_answer": _trim(mine, tokenizer.eos_token_id) == theirs,
                    "transformers": tokenizer.decode(_trim(mine, tokenizer.eos_token_id)),
                    "llama.cpp": tokenizer.decode(theirs),
                }
            )
    finally:
        engine.close()
    return {
        "prompts": len(results),
        "same_tokenization": sum(r["same_tokens"] for r in results),
        "same_answers": sum(r["same_answer"] for r in results),
        "differing": [r for r in results if not (r["same_tokens"] and r["same_answer"])],
    }


def _llama_greedy(engine, ids: list[int], max_new_tokens: int, eos: int | None) -> list[int]:
    engine.reset()
    produced: list[int] = []
    for token in engine.generate(ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0, reset=True):
        if token == eos or len(produced) >= max_new_tokens:
            break
        produced.append(token)
    return produced


def _trim(tokens: list[int], eos: int | None) -> list[int]:
    return tokens[: tokens.index(eos)] if eos in tokens else tokens


# ------------------------------------------------------------------------------------------ companions


def _manifest(
    run,
    config,
    job: GGUFExport,
    out: Path,
    model_file: Path,
    adapter_file: Path | None,
    skipped: list[str],
    checks: dict,
    comparison: dict | None,
    base_file: Path | None = None,
) -> dict:
    files = {"model": _describe(model_file)}
    if adapter_file:
        files["adapter"] = _describe(adapter_file)
    if base_file:
        files["base"] = _describe(base_file)
    return {
        "run": run["name"],
        "run_id": run["id"],
        "base_model": config.base_model,
        "quantize": job.quantize,
        "folder": str(out),
        "created": store.now(),
        "files": files,
        "adapter_skipped": None if adapter_file else "; ".join(skipped),
        "checks": checks,
        "llama_cpp_comparison": comparison,
        "converter": f"llama.cpp from llama-cpp-python {llama_cpp.LLAMA_CPP_PYTHON}",
    }


def _describe(path: Path) -> dict:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return {"name": path.name, "bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def _write_companions(folder: Path, run: dict, config, merged: Path, manifest: dict) -> None:
    from transformers import AutoTokenizer

    translated = ollama_template_for(AutoTokenizer.from_pretrained(str(merged)), config.system_prompt)
    system = config.system_prompt if config.system_prompt.strip() else (translated.default_system or "")
    parameters = {"stop": list(translated.stop), "num_ctx": int(config.max_length)}
    model_name = manifest["files"]["model"]["name"]
    lines = [
        f"# Create it with: ollama create {slug(run['name']).lower()} -f Modelfile   (in this folder)",
        f"FROM ./{model_name}",
        *modelfile_body(translated.template, system, parameters),
    ]
    write_text_atomic(folder / "Modelfile", "\n".join(lines) + "\n")
    write_text_atomic(folder / "README.md", _readme(run, config, manifest))
    write_json_atomic(folder / MANIFEST, manifest)


def _readme(run: dict, config, manifest: dict) -> str:
    model = manifest["files"]["model"]
    adapter = manifest["files"].get("adapter")
    name = slug(run["name"]).lower()
    lines = [
        f"# {run['name']} — GGUF export",
        "",
        f"LoRA run `{run['name']}` on `{config.base_model}`, exported by LoRA Workbench on {manifest['created']} "
        f"with {manifest['converter']}.",
        "",
        "| file | what | size | sha256 |",
        "|---|---|---|---|",
        f"| `{model['name']}` | the adapter merged into the base, {manifest['quantize']} | "
        f"{model['bytes'] / 1e6:.1f} MB | `{model['sha256'][:16]}…` |",
    ]
    if adapter:
        lines.append(
            f"| `{adapter['name']}` | the LoRA adapter alone | {adapter['bytes'] / 1e6:.1f} MB | "
            f"`{adapter['sha256'][:16]}…` |"
        )
    if manifest["files"].get("base"):
        base = manifest["files"]["base"]
        lines.append(
            f"| `{base['name']}` | the base `{config.base_model}`, for the adapter | "
            f"{base['bytes'] / 1e6:.1f} MB | `{base['sha256'][:16]}…` |"
        )
    lines += [
        "| `Modelfile` | Ollama: template, stop tokens, system prompt, context length | | |",
        "",
        "## Use it",
        "",
        f"- **Ollama**: `ollama create {name} -f Modelfile` in this folder, then `ollama run {name}`.",
        f"- **llama.cpp**: `llama-cli -m {model['name']} -cnv` (the chat template is inside the file), or "
        f"`llama-server -m {model['name']}`.",
        "- **LM Studio**: copy the `.gguf` file into a folder under LM Studio's models folder "
        "(e.g. `~/.lmstudio/models/local/" + name + "/`); the chat template is inside the file.",
    ]
    base = manifest["files"].get("base")
    if adapter and base:
        lines.append(
            f"- **The adapter over its base**: `llama-cli -m {base['name']} --lora {adapter['name']} -cnv` "
            f"(`{base['name']}` holds the weights the run trained on)."
        )
    elif adapter:
        lines.append(
            f"- **The adapter alone**: `llama-cli -m BASE.gguf --lora {adapter['name']}`, where BASE.gguf "
            f"is `{config.base_model}` as GGUF (same architecture and weights the run trained on; export "
            "with the base included to get it here)."
        )
    else:
        lines.append(f"- No separate adapter file: {manifest['adapter_skipped']}.")
    lines += ["", "## Checked", ""]
    details = {
        "model": lambda c: f", chat template inside, end of turn token {c['eos_token_id']}",
        "adapter": lambda c: f", LoRA rank {c['rank']}, alpha {c['lora_alpha']}",
        "base": lambda c: "",
    }
    for part, check in manifest["checks"].items():
        lines.append(
            f"- {part}: architecture `{check['architecture']}`, {check['tensors']} tensors"
            + details[part](check)
            + " — OK."
        )
    comparison = manifest.get("llama_cpp_comparison")
    if comparison:
        lines.append(
            f"- llama.cpp vs transformers, greedy, {comparison['prompts']} held-out prompt(s): same "
            f"tokenization on {comparison['same_tokenization']}, same answer on {comparison['same_answers']}."
        )
        over_base = comparison.get("adapter_over_base")
        if over_base:
            lines.append(
                f"- The adapter over the base in llama.cpp vs the merged model in transformers: same answer "
                f"on {over_base['same_answers']} of {over_base['prompts']}."
            )
    else:
        lines.append("- Not compared with llama.cpp here (llama-cpp-python is not installed).")
    return "\n".join(lines) + "\n"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "Stopped (Ctrl+C)."
    if isinstance(exc, PublishError):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "The disk filled up while writing the export: free some space and export again (nothing was kept)."
    return f"{type(exc).__name__}: {exc}"


# ----------------------------------------------------------------------------------------------- records


def _record(run: dict, out: Path, job: GGUFExport, status: str) -> int:
    return records.start(
        run["id"], f"gguf:{job.quantize}", str(out), "", status, {"quantize": job.quantize, "folder": str(out)}
    )


def list_exports(run_id: int | None = None) -> list[dict]:
    return [r for r in records.list_records(run_id) if r["target"].startswith("gguf:")]


def delete_export(record_id: int) -> None:
    """Remove the export folder (only if it is one of ours) and its record."""
    row = records.get_record(record_id)
    folder = Path(row["name"])
    if folder.is_dir():
        if not (folder / MANIFEST).is_file():
            raise PublishError(
                f"{folder} does not look like a GGUF export of this workbench (no {MANIFEST}); "
                "remove it by hand if you mean to."
            )
        shutil.rmtree(folder)
    records.delete(record_id)


# ---------------------------------------------------------------------------------------- background


def start_export(export: GGUFExport) -> int:
    """Queue an export job (the page's Export button); it starts when the device is free. Returns its id."""
    run = runs.get_run(export.run_id)
    out = Path(export.out_dir) if export.out_dir else default_out_dir(run, export.quantize)
    job_id = registry.create(
        "export",
        f"Export {run['name']} as GGUF ({export.quantize})",
        run_id=run["id"],
        log=exports_dir(run) / f"export-gguf-{export.quantize}.log",
        args={
            "run": run["id"],
            "out": str(out),
            "quantize": export.quantize,
            "include_adapter": export.include_adapter,
            "include_base": export.include_base,
            "compare": export.compare,
        },
    )
    queue.schedule()
    return job_id


def export_job(job: dict) -> tuple[str, dict]:
    """The `export` kind's handler: write the export folder; returns (completed, where and what)."""
    args = registry.args(job)
    export = GGUFExport(
        args["run"],
        out_dir=Path(args["out"]),
        quantize=args["quantize"],
        include_adapter=args["include_adapter"],
        include_base=args["include_base"],
        compare=int(args["compare"]),
    )
    print(f"Exporting run {job['run_id']} as GGUF ({export.quantize})…", flush=True)
    manifest = export_gguf(export, lambda line: print(f"  {line}", flush=True))
    print(f"Exported to {manifest['folder']} (Modelfile and README.md inside).", flush=True)
    return "completed", {"folder": manifest["folder"], "files": [f["name"] for f in manifest["files"].values()]}
