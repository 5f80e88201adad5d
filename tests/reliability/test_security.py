"""Nothing gets in: names stay inside their folders, only safetensors are loaded, no shell runs user text."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from workbench import cli as workbench_cli
from workbench import paths
from workbench.data import repository
from workbench.errors import WorkbenchError
from workbench.models import custom_catalog, local
from workbench.models.loading import ModelLoadError, check_adapter_files, check_safe_weights
from workbench.publish import ollama

ROOT = Path(__file__).resolve().parents[2]
HOSTILE_NAMES = [
    "../escape",
    "../../../../tmp/escape",
    "/etc/passwd",
    "/tmp/escape",
    "a/../../escape",
    "..",
    ".",
    ".hidden",
    "",
    "a\x00b",
    "nul\x00",
    "CON",
    "aux.txt",
    "LPT1",
    "x" * 300,
    "a\u2215b",  # DIVISION SLASH
    "a\uff0fb",  # FULLWIDTH SOLIDUS
    "a\u2044b",  # FRACTION SLASH
    "a\\b",
    "tab\there",
    "new\nline",
]


def _outside(home: Path) -> set[str]:
    """Everything beside and above the workspace that a name could have written to."""
    return {p.name for p in home.parent.iterdir()} | {p.name for p in Path("/tmp").iterdir() if "escape" in p.name}


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=repr)
def test_a_hostile_name_is_refused_everywhere_and_writes_nothing_outside(name, user_data, tmp_path, capsys):
    source = tmp_path / "rows.jsonl"
    source.write_text('{"instruction": "q", "input": "", "output": "a"}\n')
    before = _outside(user_data)
    windows_only = name.split(".")[0].upper() in paths.WINDOWS_RESERVED  # no file of ours under Ollama's names
    for what, attempt in (
        ("dataset", lambda: repository.create_dataset(name, "alpaca", [])),
        ("local model", lambda: local.check_name(name)),
        ("ollama model", (lambda: paths.safe_name(name)) if windows_only else (lambda: ollama.check_name(name))),
        ("run folder", lambda: paths.run_dir(name)),
        ("adapter folder", lambda: paths.adapter_dir(name)),
        ("model folder", lambda: paths.model_dir(name)),
        ("export folder", lambda: paths.exports_dir(name)),
    ):
        with pytest.raises(WorkbenchError):  # a message saying what a name may hold, never a path made
            attempt()
            pytest.fail(f"{what} accepted {name!r}")
    if name:  # an empty --name means "the default name"
        assert workbench_cli.main(["datasets", "import", str(source), "--name", name, "--no-split"]) != 0
        assert workbench_cli.main(["train", "--dataset", "faq", "--base", "demo", "--name", name]) != 0
        err = capsys.readouterr().err
        assert "Traceback" not in err and err.count("error:") == 2, err
    assert _outside(user_data) == before
    assert sorted(repository.dataset_names()) == ["faq", "informes-proyectos"]


def test_catalog_json_names_cannot_name_a_path(user_data):
    entries = [
        {"name": bad, "wheel": "x-1.0-py3-none-any.whl", "wheel_sha256": "0" * 64, "member": "x/m.gguf"}
        for bad in ("../escape", "/abs", "a\u2215b", "CON")
    ]
    paths.custom_catalog_path().write_text(json.dumps(entries))
    found, problems = custom_catalog.custom_entries()
    assert found == [] and len(problems) == 4
    assert all("name:" in problem for problem in problems)


def test_an_uploaded_file_name_is_never_used_as_a_path(user_data, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.chdir(ROOT)
    before = _outside(user_data)
    at = AppTest.from_file(str(ROOT / "pages" / "datasets.py"), default_timeout=60).run()
    at.selectbox(key="ds_selected").set_value("Import a file…").run()
    data = b'{"instruction": "q", "input": "", "output": "a"}\n'
    at.file_uploader(key="imp_upload").upload("../../../escape.jsonl", data, "application/jsonl").run()
    assert not at.exception
    suggested = at.text_input(key="imp_name").value
    assert "/" not in suggested and ".." not in suggested
    at.text_input(key="imp_name").set_value("../../escape").run()
    at.button(key="imp_go").click().run()
    assert not at.exception and "not a valid dataset name" in at.error[0].value
    assert _outside(user_data) == before


# --- only safetensors, only inside the workspace -------------------------------------------------------------


def test_a_model_folder_with_only_pickled_weights_is_refused(tmp_path):
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    with pytest.raises(ModelLoadError, match="pytorch_model.bin, pickled weights .* only safetensors"):
        check_safe_weights(folder, "The model folder")
    from workbench.models.loading import resolve_base

    with pytest.raises(ModelLoadError, match="only safetensors"):
        resolve_base(str(folder))


def test_an_adapter_with_pickled_weights_a_link_outside_or_another_base_is_refused(trained_run, tmp_path):
    from workbench.inference.engine import Engine

    good = Path(trained_run["adapter_dir"])
    good = good if good.is_absolute() else paths.in_home(good)
    engine = Engine("demo")

    pickled = paths.adapters_dir() / "pickled"
    pickled.mkdir()
    (pickled / "adapter_config.json").write_text((good / "adapter_config.json").read_text())
    (pickled / "adapter_model.bin").write_bytes(b"\x80\x04pickle")
    with pytest.raises(ValueError, match="only adapter_model.safetensors is loaded and it holds adapter_model.bin"):
        engine.attach(pickled)

    linked = paths.adapters_dir() / "linked"
    linked.mkdir()
    (linked / "adapter_config.json").write_text((good / "adapter_config.json").read_text())
    secret = tmp_path / "outside.safetensors"
    secret.write_bytes((good / "adapter_model.safetensors").read_bytes())
    (linked / "adapter_model.safetensors").symlink_to(secret)
    with pytest.raises(ValueError, match="is a link to .* outside the workspace"):
        engine.attach(linked)
    with pytest.raises(ModelLoadError, match="outside the workspace"):
        check_adapter_files(linked)

    other = paths.adapters_dir() / "other-base"
    other.mkdir()
    config = json.loads((good / "adapter_config.json").read_text())
    (other / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": "meta/llama-70b"}))
    (other / "adapter_model.safetensors").write_bytes((good / "adapter_model.safetensors").read_bytes())
    with pytest.raises(ValueError, match="was trained on 'meta/llama-70b'"):
        engine.attach(other)
    assert engine.attach(good, "good") == "good"  # the real one still loads


def test_trust_remote_code_is_off_unless_turned_on_and_warned_about(monkeypatch):
    from streamlit.testing.v1 import AppTest

    from workbench.training.config import TrainConfig

    assert TrainConfig().trust_remote_code is False
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "pages" / "train.py"), default_timeout=60).run()
    assert not any("remote code" in w.value.lower() for w in at.warning)
    at.checkbox(key="tc_trust_remote_code").check().run()
    assert any("runs python code" in w.value.lower() for w in at.warning), [w.value for w in at.warning]


# --- no shell strings --------------------------------------------------------------------------------------

SHELL_CALLS = {("os", "system"), ("os", "popen"), ("subprocess", "getoutput"), ("subprocess", "getstatusoutput")}
PROCESS_CALLS = {"run", "Popen", "call", "check_call", "check_output"}


def _source_files() -> list[Path]:
    files = [ROOT / "app.py"]
    for folder in ("workbench", "ui", "pages", "bench"):
        files += sorted((ROOT / folder).rglob("*.py"))
    return files


def _shell_uses(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner = node.func.value.id if isinstance(node.func.value, ast.Name) else ""
        if (owner, node.func.attr) in SHELL_CALLS or node.func.attr.startswith(("execl", "spawnl")):
            found.append((node.lineno, f"{owner}.{node.func.attr}"))
        if owner == "subprocess" and node.func.attr in PROCESS_CALLS:
            if any(
                k.arg == "shell" and not (isinstance(k.value, ast.Constant) and not k.value.value)
                for k in node.keywords
            ):
                found.append((node.lineno, "shell=True"))
            if node.args and isinstance(node.args[0], ast.Constant | ast.JoinedStr | ast.BinOp):
                found.append((node.lineno, "a command given as one string"))
    return found


def test_no_shell_strings_anywhere():
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in _source_files()
        for line, what in _shell_uses(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert offenders == []


def test_the_shell_check_finds_what_it_looks_for():
    bad = "import os, subprocess\nos.system('ls ' + x)\nsubprocess.run(f'ls {x}', shell=True)\nsubprocess.Popen('ls')\n"
    assert [what for _, what in _shell_uses(ast.parse(bad))] == [
        "os.system",
        "shell=True",
        "a command given as one string",
        "a command given as one string",
    ]
