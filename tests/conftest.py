"""Shared fixtures: an isolated WORKBENCH_HOME per test and one demo model built per session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def demo_model_dir(tmp_path_factory) -> Path:
    """The tiny demo Llama and its tokenizer, built once per test session."""
    from workbench.models.demo import build_demo_model

    return build_demo_model(tmp_path_factory.mktemp("session-models") / "demo")


@pytest.fixture(autouse=True)
def workbench_home(tmp_path, monkeypatch, request) -> Path:
    """Every test gets its own workspace; the session's demo model is linked in, not rebuilt."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    if "no_demo_model" not in request.keywords:
        demo = request.getfixturevalue("demo_model_dir")
        (home / "models").mkdir()
        (home / "models" / "demo").symlink_to(demo, target_is_directory=True)
    return home


@pytest.fixture
def trained_run(workbench_home):
    """A completed run with a real (briefly trained) adapter on the demo model, in this test's workspace."""
    from workbench.data import repository
    from workbench.data.split import SplitSpec
    from workbench.training import runs
    from workbench.training.config import TrainConfig
    from workbench.training.worker import run_training

    rows = [{"instruction": f"Repite: {w}", "input": "", "output": w}
            for w in ("uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho")]
    repository.create_dataset("words", "alpaca", rows)
    repository.make_split("words", 1, SplitSpec(seed=1, validation_ratio=None, validation_count=2))
    config = TrainConfig(dataset="words", base_model="demo", max_steps=6, eval_steps=0, packing=False,
                         gradient_checkpointing=False, gradient_accumulation_steps=1, learning_rate=1e-2,
                         warmup=0, precision="fp32", target_modules="all-linear", auto_evaluate=False)
    run_id = runs.create_run(config, name="words-demo")
    assert run_training(run_id, schedule_next=False) == "completed", runs.get_run(run_id)["error"]
    return runs.get_run(run_id)
