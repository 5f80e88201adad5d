"""Where things live: every folder and file the workbench reads or writes is named here.

All user data sits under WORKBENCH_HOME (default: the repository folder); the llama.cpp converter cache
is shared by every workspace on the machine (WORKBENCH_CACHE, else $XDG_CACHE_HOME or ~/.cache).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# Written by the training job into every adapter folder: config, dataset revision, final metrics.
RUN_FILE = "workbench_run.json"
# Beside it: every metric row of the run (a registry rebuild restores the charts from it).
HISTORY_FILE = "loss_history.json"


def home() -> Path:
    """The workspace folder; read on every call so tests and scripts can point it elsewhere."""
    configured = os.environ.get("WORKBENCH_HOME")
    return Path(configured).expanduser().resolve() if configured else REPO_ROOT


def db_path() -> Path:
    return home() / "workbench.db"


def datasets_dir() -> Path:
    return _ensure(home() / "datasets")


def dataset_history_dir(name: str) -> Path:
    return _ensure(datasets_dir() / ".history" / name)


def dataset_manifest(name: str) -> Path:
    """A dataset's format and its revisions' notes and splits, so the registry can be rebuilt from disk."""
    return dataset_history_dir(name) / "dataset.json"


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
    return runs_dir() / name


def checkpoints_dir(name: str) -> Path:
    return run_dir(name) / "checkpoints"


def adapter_dir(name: str) -> Path:
    """`adapters/<name>/`: where a run's finished adapter goes."""
    return adapters_dir() / name


def model_dir(name: str) -> Path:
    """`models/<name>/`: a prepared base model."""
    return models_dir() / name


def exports_dir(run_name: str) -> Path:
    """`exports/<run>/`: merged models, GGUF exports and publish logs of a run."""
    return home() / "exports" / run_name


def custom_catalog_path() -> Path:
    """`catalog.json`: models of the user's own, listed next to the built-in catalogue."""
    return home() / "catalog.json"


def wheels_cache_dir() -> Path:
    return _ensure(cache_dir() / "wheels")


def gguf_cache_dir() -> Path:
    return _ensure(cache_dir() / "gguf")


def prepare_log(model_name: str) -> Path:
    return cache_dir() / f"prepare-{model_name}.log"


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
