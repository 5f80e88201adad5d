"""Building a prepared model: stage progress, a hidden build folder, the manifest, the move into place,
and disk-space checks with messages that say what to do."""

from __future__ import annotations

import errno
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from workbench import paths
from workbench.fileio import write_json_atomic
from workbench.models import demo
from workbench.models.entries import CatalogEntry, PrepareError
from workbench.models.loading import MANIFEST, clear_tokenizer_cache

Progress = Callable[[str, float | None], None]

STAGES = ("download", "extract", "convert", "save")
# Where each stage starts and ends in the overall fraction reported to `progress`.
STAGE_SPAN = {"download": (0.0, 0.40), "extract": (0.40, 0.50), "convert": (0.50, 0.85), "save": (0.85, 1.0)}
DISK_MARGIN = 64 * 1024 * 1024


def reporter(progress: Progress | None):
    def report(stage: str, message: str, within: float | None) -> None:
        if progress is None:
            return
        start, end = STAGE_SPAN[stage]
        fraction = None if within is None else start + (end - start) * max(0.0, min(1.0, within))
        progress(f"{stage}: {message}", fraction)

    return report


def new_building_dir(name: str) -> Path:
    building = Path(tempfile.mkdtemp(prefix=f".{name}.preparing-", dir=paths.models_dir()))
    building.chmod(0o755)
    return building


def move_into_place(building: Path, target: Path) -> Path:
    # demo's rename-into-place handles an existing target and concurrent builders.
    path = demo._move_into_place(building, target, force=False)
    clear_tokenizer_cache()
    return path


def publish(item: CatalogEntry, building: Path, target: Path, report, manifest_fields: dict) -> Path:
    """Write the manifest (its presence marks a finished model), then rename the build into place."""
    write_json_atomic(
        building / MANIFEST,
        {
            "name": item.name,
            "title": item.title,
            **manifest_fields,
            "chat_template": item.template_family,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    report("save", "Moving the finished model into place…", 0.9)
    return move_into_place(building, target)


def os_error(doing: str, exc: OSError, where: Path, item: CatalogEntry | None = None) -> PrepareError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        needs = f" ({item.name} takes about {item.size_on_disk_mb:,} MB once prepared)" if item else ""
        return PrepareError(
            f"The disk is full while {doing} ({where}). Free some space{needs} and run it again; finished "
            "steps are kept."
        )
    return PrepareError(
        f"A file error happened while {doing}: {exc}. Check the permissions of {where} and run it again."
    )


def need_space(folder: Path, size: int, doing: str) -> None:
    free = shutil.disk_usage(folder).free
    if free < size + DISK_MARGIN:
        raise PrepareError(
            f"The disk is full: {doing} needs about {(size + DISK_MARGIN) / 1e6:.0f} MB in "
            f"{folder}, only {free / 1e6:.0f} MB are free. Free some space and run it again."
        )
