"""How large a file the importer reads, checked before a byte of it is read."""

from __future__ import annotations

import os
from pathlib import Path

from workbench.data.formats.problems import FormatError


def max_import_bytes() -> int:
    """The largest file the importer reads (WORKBENCH_MAX_IMPORT_MB, default 1024, as the upload limit)."""
    try:
        return int(float(os.environ.get("WORKBENCH_MAX_IMPORT_MB", "1024")) * 1024 * 1024)
    except ValueError:
        return 1024 * 1024 * 1024


def _size(n: int) -> str:
    return f"{n / 1024**3:.1f} GB" if n >= 1024**3 else f"{n / 1024**2:.1f} MB"


def check_import_size(size: int, file: str) -> None:
    limit = max_import_bytes()
    if size > limit:
        raise FormatError(
            f"{file} is {_size(size)}, over the import limit of {_size(limit)} (WORKBENCH_MAX_IMPORT_MB): nothing "
            "was read. Split it into smaller files, or raise the limit if this machine has the memory."
        )


def read_import_file(path: Path) -> bytes:
    """A file's bytes for import, refused by its size before anything is read."""
    if not path.is_file():
        raise FormatError(f"{path}: no such file. Check the path (it is read on the machine that runs the app).")
    check_import_size(path.stat().st_size, path.name)
    return path.read_bytes()
