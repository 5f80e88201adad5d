"""Atomic writes: a file through a temp file in the same folder, fsync, then os.replace; a folder written as
a hidden sibling, then renamed into place.

A crash at any moment leaves either the old file (folder) or the new one, never half of either.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from workbench.errors import WorkbenchError


class DiskFull(WorkbenchError):
    """Not enough space to write; the message names the folder, the space needed and the space free."""

    errno = errno.ENOSPC


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC/EDQUOT from Python, or the same error as safetensors' and tokenizers' Rust code words it."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    return any(words in text for words in ("No space left on device", "Disk quota exceeded", "disk is full"))


def free_bytes(folder: Path) -> int:
    probe = next((p for p in (Path(folder), *Path(folder).parents) if p.exists()), Path("/"))
    return shutil.disk_usage(probe).free


def disk_full(folder: Path, needed: int, doing: str) -> DiskFull:
    return DiskFull(
        f"Not enough disk space in {folder} for {doing}: it needs about {_mb(needed)}, {_mb(free_bytes(folder))} "
        "free. Free some space (old runs' checkpoints under runs/ are often the largest) and try again; what was "
        "there before is kept.",
    )


def need_space(folder: Path, needed: int, doing: str) -> None:
    """DiskFull now, before anything is written, when `folder` has less than `needed` bytes free."""
    if free_bytes(folder) < needed:
        raise disk_full(folder, needed, doing)


def _mb(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{max(n, 0) / 1e6:.1f} MB"


TEMP_SUFFIX = ".tmp"
_TEMP_NAME = re.compile(r"^\..+\.(\d+)\.[^.]+\.tmp$")


def remove_orphan_temps(folder: Path) -> int:
    """Delete the temp files under `folder` that writers killed mid-write left behind; returns how many."""
    removed = 0
    for path in Path(folder).rglob(f".*{TEMP_SUFFIX}"):
        match = _TEMP_NAME.match(path.name)
        if match and not _alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The pid in the name lets `remove_orphan_temps` tell a temp file of a killed writer from a live one's.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), 0o666 & ~_umask())  # mkstemp's 0600 is for the temp file only
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if is_disk_full(exc) and not isinstance(exc, DiskFull):
            raise disk_full(path.parent, len(data), f"writing {path.name}") from exc
        raise


@functools.cache
def _umask() -> int:
    """The process umask, read without changing it where Linux allows (os.umask would, for every thread)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def jsonl_text(rows: Iterable[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def write_jsonl_atomic(path: Path, rows: Iterable[dict]) -> None:
    write_text_atomic(path, jsonl_text(rows))


def write_json_atomic(path: Path, obj) -> None:
    write_text_atomic(path, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def hidden_sibling(target: Path, role: str) -> Path:
    """`.<name>.<role>-<random>` beside `target`: a folder being built, or an older one moved aside."""
    return target.parent / f".{target.name}.{role}-{uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def folder_in_place(target: Path) -> Iterator[Path]:
    """Yield a hidden sibling of `target` to write a whole folder in; when the block ends without an error it is
    renamed onto `target` (an older folder there is moved aside first and deleted after), otherwise deleted,
    leaving `target` as it was. A writer killed in between leaves siblings `finish_interrupted_folder` tidies."""
    building = hidden_sibling(target, "building")
    try:
        yield building
        old = None
        if target.exists():
            old = hidden_sibling(target, "old")
            os.rename(target, old)
        os.rename(building, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)


def finish_interrupted_folder(target: Path) -> list[str]:
    """After a writer was killed inside `folder_in_place`: a half-written folder is deleted, and an older one
    moved aside comes back if the new one never took its place. Returns what was done, in words."""
    done = []
    for building in target.parent.glob(f".{target.name}.building-*"):
        shutil.rmtree(building, ignore_errors=True)
        done.append(f"Removed {building.name}: a folder half-written when its writer was killed.")
    for old in sorted(target.parent.glob(f".{target.name}.old-*")):
        if target.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(old, target)
            done.append(f"Restored the previous {target.name} from {old.name}.")
    return done
