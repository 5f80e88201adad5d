"""Models of the user's own: `catalog.json` under WORKBENCH_HOME, read and checked entry by entry."""

from __future__ import annotations

import json
import re
from pathlib import Path

from workbench import paths
from workbench.models.entries import CatalogEntry, CatalogError, Source

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_WHEEL_RE = re.compile(r"^(?P<package>[A-Za-z0-9_.]+)-(?P<version>[^-]+)-.+\.whl$")


def custom_catalog_path() -> Path:
    return paths.custom_catalog_path()


def custom_entries(taken: set[str] | None = None) -> tuple[list[CatalogEntry], list[str]]:
    """The user's catalogue entries from WORKBENCH_HOME/catalog.json, and the problems found in it.

    The file is a JSON list; each entry names a GGUF inside a wheel:

        [{"name": "acme-support-1b", "wheel": "/mnt/models/llm_acme-1.0-py3-none-any.whl",
          "wheel_sha256": "<64 hex digits>", "member": "llm_acme/acme-1b.Q8_0.gguf",
          "title": "ACME support 1B", "licence": "proprietary", "parameters": 1100000000,
          "template_family": "chatml", "target_modules": "all-linear", "notes": "..."}]

    `wheel` is a file (relative paths are relative to catalog.json) or an http(s) URL. An entry with a
    problem is left out and its problem, naming the file, entry and field, is returned instead.
    """
    path = custom_catalog_path()
    if not path.is_file():
        return [], []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [], [f"{path}: not readable as JSON ({exc}). Fix or remove the file."]
    if not isinstance(data, list):
        return [], [f"{path}: must hold a JSON list of model entries, not {type(data).__name__}."]
    entries, problems = [], []
    taken = set(taken if taken is not None else [])
    for number, item in enumerate(data, 1):
        try:
            made = _custom_entry(item, path.parent, taken)
        except CatalogError as exc:
            problems.append(f"{path}: entry {number}: {exc}")
            continue
        taken.add(made.name)
        entries.append(made)
    return entries, problems


def _custom_entry(item, folder: Path, taken: set[str]) -> CatalogEntry:
    if not isinstance(item, dict):
        raise CatalogError("must be an object with name, wheel, wheel_sha256 and member.")
    missing = [key for key in ("name", "wheel", "wheel_sha256", "member") if not item.get(key)]
    if missing:
        raise CatalogError(f"{', '.join(missing)}: missing.")
    name = str(item["name"])
    if not _NAME_RE.match(name):
        raise CatalogError(f"name: {name!r} — use lowercase letters, digits, '.', '_' and '-' (64 at most).")
    if name in taken:
        raise CatalogError(f"name: {name!r} is already in the catalogue; choose another name.")
    digest = str(item["wheel_sha256"]).lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise CatalogError("wheel_sha256: must be the 64 hex digits of the wheel's sha256.")
    wheel = str(item["wheel"])
    if not wheel.startswith(("http://", "https://")) and not Path(wheel).is_absolute():
        wheel = str((folder / wheel).resolve())
    parsed = _WHEEL_RE.match(Path(wheel.split("?")[0]).name)
    if not parsed:
        raise CatalogError(f"wheel: {Path(wheel).name!r} is not a wheel file name (package-version-...whl).")
    parameters = item.get("parameters", 0)
    if not isinstance(parameters, int) or isinstance(parameters, bool) or parameters < 0:
        raise CatalogError("parameters: must be a whole number (0 when unknown).")
    licence = str(item.get("licence") or "unknown")
    source = Source(
        "pypi-gguf",
        package=parsed["package"].replace("_", "-"),
        version=parsed["version"],
        wheel_sha256=digest,
        member=str(item["member"]),
        licence=licence,
        location=wheel,
    )
    return CatalogEntry(
        name,
        str(item.get("title") or name),
        parameters,
        licence,
        int(item.get("size_on_disk_mb") or 0),
        str(item.get("template_family") or "model"),
        str(item.get("target_modules") or "all-linear"),
        str(item.get("memory_note") or ""),
        [source],
        (str(item.get("notes") or "") + f" From your catalog.json: {Path(wheel).name}.").strip(),
    )
