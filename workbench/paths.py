"""Where things live. All user data sits under WORKBENCH_HOME (default: the repository folder)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


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


def adapters_dir() -> Path:
    return _ensure(home() / "adapters")


def models_dir() -> Path:
    return _ensure(home() / "models")


def runs_dir() -> Path:
    return _ensure(home() / "runs")


def cache_dir() -> Path:
    return _ensure(home() / "cache")


def sample_datasets_dir() -> Path:
    """Datasets shipped with the repository (seeded into a fresh workspace on first use)."""
    return REPO_ROOT / "datasets"


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
