"""The reliability suite: tries to break the workbench and checks that nothing is lost or let in."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m workbench ARGS` as a user runs it, in this test's WORKBENCH_HOME."""
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def snapshot(home: Path) -> dict[str, str]:
    """sha256 of every file a user's data lives in (datasets, adapters), by path under the workspace."""
    found = {}
    for top in ("datasets", "adapters"):
        for path in sorted((home / top).rglob("*")):
            if path.is_file():
                found[path.relative_to(home).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.fixture(name="cli")
def cli_fixture():
    return cli


@pytest.fixture(name="snapshot")
def snapshot_fixture():
    return snapshot


@pytest.fixture
def user_data(workbench_home):
    """A workspace holding a dataset with two revisions, notes and a split, as a user would have it."""
    from workbench.data import repository
    from workbench.data.split import SplitSpec

    repository.ensure_samples()  # as any first command or page would
    rows = [{"instruction": f"q{i}", "input": "", "output": f"a{i}"} for i in range(12)]
    repository.create_dataset("faq", "alpaca", rows, note="first import")
    repository.save_rows("faq", rows + [{"instruction": "q12", "input": "", "output": "a12"}], 1, note="one more")
    repository.make_split("faq", 2, SplitSpec(seed=3, validation_count=3))
    return workbench_home
