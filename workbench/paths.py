"""Where things live: every folder and file the workbench reads or writes is named here.

All user data sits under WORKBENCH_HOME (default: the repository folder); the llama.cpp converter cache
is shared by every workspace on the machine (WORKBENCH_CACHE, else $XDG_CACHE_HOME or ~/.cache).
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from workbench.errors import WorkbenchError

REPO_ROOT = Path(__file__).resolve().parent.parent
# Written by the training job into every adapter folder: config, dataset revision, final metrics.
RUN_FILE = "workbench_run.json"
# Beside it: every metric row of the run (a registry rebuild restores the charts from it).
HISTORY_FILE = "loss_history.json"


# Characters that draw like a slash or backslash: a name holding one reads as a path to a person.
SLASH_LOOKALIKES = frozenset("\u2215\u2044\uff0f\u29f8\u2571\u29f5\u2216\uff3c")
MAX_NAME = 128
# A workspace may be copied to Windows, where these (with any extension) name devices, not files.
WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"COM{i}" for i in range(1, 10)] + [f"LPT{i}" for i in range(1, 10)]
)


class UnsafeName(WorkbenchError, ValueError):
    """A name that would not stay one folder inside its parent."""


def _name_problem(name: str) -> str | None:
    checks = (
        (not name, "is empty"),
        (name.startswith("."), "starts with '.'"),
        ("/" in name or "\\" in name, "holds a '/' or '\\'"),
        (any(unicodedata.category(ch) == "Cc" for ch in name), "holds a NUL or control character"),
        (any(ch in SLASH_LOOKALIKES for ch in name), "holds a character that looks like a slash"),
        (len(name) > MAX_NAME, f"is longer than {MAX_NAME} characters"),
        (name.split(".")[0].upper() in WINDOWS_RESERVED, "is a name Windows reserves for a device"),
    )
    return next((problem for failed, problem in checks if failed), None)


def is_safe_name(name: str) -> bool:
    return _name_problem(name) is None


def safe_name(name: str, what: str = "name") -> str:
    """`name` when it is one plain folder or file name; UnsafeName otherwise. Every path built from a
    dataset, run, model or export name goes through here, whatever checked the name before."""
    problem = _name_problem(name)
    if problem:
        raise UnsafeName(f"{what} {name[:80]!r} {problem}: use letters, digits, '.', '_' and '-' only.")
    return name


def home() -> Path:
    """The workspace folder; read on every call so tests and scripts can point it elsewhere."""
    configured = os.environ.get("WORKBENCH_HOME")
    return Path(configured).expanduser().resolve() if configured else REPO_ROOT


def db_path() -> Path:
    return home() / "workbench.db"


def datasets_dir() -> Path:
    return _ensure(home() / "datasets")


def dataset_history_dir(name: str) -> Path:
    return _ensure(datasets_dir() / ".history" / safe_name(name, "dataset name"))


def dataset_manifest(name: str) -> Path:
    """A dataset's format and its revisions' notes and splits, so the registry can be rebuilt from disk."""
    return dataset_history_dir(name) / "dataset.json"


def dataset_unsaved(name: str) -> Path:
    """A dataset's edits not saved yet (data/unsaved.py), beside its revisions."""
    return dataset_history_dir(name) / "unsaved.json"


def adapters_dir() -> Path:
    return _ensure(home() / "adapters")


def models_dir() -> Path:
    return _ensure(home() / "models")


def runs_dir() -> Path:
    return _ensure(home() / "runs")


def cache_dir() -> Path:
    return _ensure(home() / "cache")


def in_home(stored: str | Path) -> Path:
    """A path as the registry stores it (relative to WORKBENCH_HOME, or absolute), made absolute."""
    path = Path(stored).expanduser()
    return path if path.is_absolute() else home() / path


def relative_to_home(path: Path) -> str:
    """How the registry stores a path: relative to WORKBENCH_HOME where it lies inside it."""
    path = Path(path).resolve()
    try:
        return path.relative_to(home()).as_posix()
    except ValueError:
        return str(path)


def run_dir(name: str) -> Path:
    """`runs/<name>/`: a run's logs and checkpoints."""
    return runs_dir() / safe_name(name, "run name")


def checkpoints_dir(name: str) -> Path:
    return run_dir(name) / "checkpoints"


def samples_path(name: str) -> Path:
    """`runs/<name>/samples.json`: a GRPO run's latest sampled answers and their rewards."""
    return run_dir(name) / "samples.json"


def adapter_dir(name: str) -> Path:
    """`adapters/<name>/`: where a run's finished adapter goes."""
    return adapters_dir() / safe_name(name, "run name")


def model_dir(name: str) -> Path:
    """`models/<name>/`: a prepared base model."""
    return models_dir() / safe_name(name, "model name")


def exports_dir(run_name: str) -> Path:
    """`exports/<run>/`: merged models, GGUF exports and publish logs of a run."""
    return home() / "exports" / safe_name(run_name, "run name")


def predictions_dir() -> Path:
    return _ensure(home() / "predictions")


def prediction_dir(job_id: int) -> Path:
    """`predictions/<job>/`: a prediction job's inputs, outputs (JSONL, one line per answered row) and log."""
    return predictions_dir() / f"job-{int(job_id)}"


def custom_catalog_path() -> Path:
    """`catalog.json`: models of the user's own, listed next to the built-in catalogue."""
    return home() / "catalog.json"


def wheels_cache_dir() -> Path:
    return _ensure(cache_dir() / "wheels")


def gguf_cache_dir() -> Path:
    return _ensure(cache_dir() / "gguf")


def prepare_log(model_name: str) -> Path:
    return cache_dir() / f"prepare-{safe_name(model_name, 'model name')}.log"


def job_log_fallback(job_id: int) -> Path:
    """The log of a job that was created without one."""
    return cache_dir() / "jobs" / f"job-{job_id}.log"


def converter_cache_root() -> Path:
    """llama.cpp's converter files, shared by every workspace on the machine."""
    configured = os.environ.get("WORKBENCH_CACHE")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lora-workbench"


def sample_datasets_dir() -> Path:
    """Datasets shipped with the repository (seeded into a fresh workspace on first use)."""
    return REPO_ROOT / "datasets"


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
