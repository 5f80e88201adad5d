"""The layers of docs/ARCHITECTURE.md hold: a module imports only its own layer and the layers below it,
and nothing under workbench/ imports streamlit."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "workbench"
# Top to bottom, as docs/ARCHITECTURE.md lists them; the base modules (store, paths, ...) are the last layer.
LAYERS = [
    "cli",
    "publish",
    "prediction",
    "experiments",
    "evaluation",
    "inference",
    "training",
    "models",
    "data",
    "jobs",
    "base",
]
# Whole-workbench views beside the CLI: where the user stands, rebuilding the registry from every folder.
BESIDE_CLI = {"workbench.journey", "workbench.recovery"}


def layer_of(module: str) -> str:
    """'workbench.evaluation.jobs' -> 'evaluation'; 'workbench.store' -> 'base'."""
    if module in BESIDE_CLI:
        return "cli"
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LAYERS:
        return parts[1]
    return "base"


def imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


MODULES = sorted(p for p in ROOT.rglob("*.py") if p.name != "__main__.py")


def test_the_layers_are_found():
    assert len(MODULES) > 50
    assert layer_of("workbench.evaluation.jobs") == "evaluation" and layer_of("workbench.metrics") == "base"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_module_imports_only_its_layer_and_those_below(path):
    module = "workbench." + ".".join(path.relative_to(ROOT).with_suffix("").parts)
    own = LAYERS.index(layer_of(module))
    upward = [
        f"line {line}: {name}"
        for line, name in imports(path)
        if name.startswith("workbench.") and LAYERS.index(layer_of(name)) < own
    ]
    streamlit = [f"line {line}: {name}" for line, name in imports(path) if name.split(".")[0] == "streamlit"]
    assert not upward and not streamlit, f"{module} imports upward: {upward + streamlit}"
