"""The CLI runs the same operations as the UI; exercised in-process and once as a real subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.data import repository

ROOT = Path(__file__).resolve().parents[2]
GOOD = [{"instruction": f"q{i}", "input": "", "output": json.dumps({"n": i})} for i in range(20)]


def _write(path: Path, rows) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def test_validate_prints_file_line_field_problem_and_exits_1(tmp_path, capsys):
    bad = _write(tmp_path / "bad.jsonl", [GOOD[0], {"instruction": "q", "output": ""}, "{nope"])
    assert main(["datasets", "validate", str(bad)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "bad.jsonl:2: output: empty"
    assert out[1].startswith("bad.jsonl:3: json: ")


def test_validate_exits_0_on_a_clean_file(tmp_path, capsys):
    assert main(["datasets", "validate", str(_write(tmp_path / "ok.jsonl", GOOD))]) == 0
    assert capsys.readouterr().out == ""


def test_import_refuses_errors_unless_told_to_skip(tmp_path, capsys):
    bad = _write(tmp_path / "mixed.jsonl", [*GOOD[:3], {"instruction": "", "output": "x"}])
    assert main(["datasets", "import", str(bad)]) == 1
    assert "nothing was imported" in capsys.readouterr().err
    assert "mixed" not in repository.dataset_names()
    assert main(["datasets", "import", str(bad), "--skip-bad", "--name", "mixed"]) == 0
    assert len(repository.load_rows("mixed")) == 3


def test_import_csv_with_a_mapping_then_append(tmp_path):
    csv = tmp_path / "faq.csv"
    csv.write_text("q,a\nHours?,9-5\n", encoding="utf-8")
    assert main(["datasets", "import", str(csv), "--map", "instruction=q", "--map", "output=a"]) == 0
    assert repository.load_rows("faq") == [{"instruction": "Hours?", "input": "", "output": "9-5"}]
    csv.write_text("q,a\nPhone?,555\n", encoding="utf-8")
    assert main(["datasets", "import", str(csv), "--map", "instruction=q", "--map", "output=a", "--append"]) == 0
    assert [r["output"] for r in repository.load_rows("faq")] == ["9-5", "555"]
    assert repository.get_dataset("faq").latest.n == 2


def test_split_stats_export_and_list(tmp_path, capsys):
    main(["datasets", "import", str(_write(tmp_path / "nums.jsonl", GOOD))])
    assert main(["datasets", "split", "nums", "--count", "5", "--seed", "3"]) == 0
    assert "train 15, validation 5 (seed 3)" in capsys.readouterr().out
    assert main(["datasets", "stats", "nums", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["rows"] == 20 and stats["json_valid_share"] == 1.0 and stats["tokens_total"] > 100
    out = tmp_path / "val.jsonl"
    assert main(["datasets", "export", "nums", "--format", "chat", "--split", "validation", "--out", str(out)]) == 0
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(exported) == 5 and exported[0]["messages"][0]["role"] == "user"
    assert main(["datasets", "list"]) == 0
    assert "nums\talpaca\trevision 1\t20 rows\ttrain 15 / validation 5" in capsys.readouterr().out


def test_errors_name_the_cause_and_exit_2(tmp_path, capsys):
    assert main(["datasets", "export", "missing", "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "No dataset named 'missing'" in capsys.readouterr().err
    assert main(["datasets", "import", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_python_dash_m_workbench_runs_as_a_process(tmp_path, workbench_home):
    bad = _write(tmp_path / "bad.jsonl", [{"instruction": "q", "output": 5}])
    env = {**os.environ, "WORKBENCH_HOME": str(workbench_home)}
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "datasets", "validate", str(bad)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stdout.strip() == "bad.jsonl:1: output: must be a string, got int"


@pytest.mark.no_demo_model
def test_demo_model_command_builds_into_the_workspace(workbench_home, capsys):
    assert main(["demo-model"]) == 0
    assert (workbench_home / "models" / "demo" / "manifest.json").is_file()
    assert "Demo model ready" in capsys.readouterr().out


def _train_and_wait(tmp_path, capsys, name: str, validation: int, settings: list[str]) -> int:
    """Import a dataset, split off `validation` rows and `train --wait` a demo run with `settings`."""
    main(["datasets", "import", str(_write(tmp_path / "nums.jsonl", GOOD))])
    main(["datasets", "split", "nums", "--count", str(validation)])
    capsys.readouterr()
    extra = [x for setting in settings for x in ("--set", setting)]
    return main(["train", "--dataset", "nums", "--base", "demo", "--name", name, "--wait", *extra])


def test_train_wait_then_runs_list_show_and_delete(tmp_path, capsys):
    code = _train_and_wait(
        tmp_path, capsys, "cli-run", 4, ["max_steps=6", "eval_steps=3", "lora_r=4", "auto_evaluate=false"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Run cli-run completed." in out
    import torch

    assert ("No GPU: using the CPU preset" in out) == (not torch.cuda.is_available())
    assert main(["runs", "list"]) == 0
    assert "\tcli-run\tcompleted\tdemo\tloss " in capsys.readouterr().out
    assert main(["runs", "show", "cli-run"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["config"]["lora_r"] == 4 and shown["progress"]["step"] == 6
    assert main(["runs", "delete", "cli-run", "--yes"]) == 0
    assert main(["runs", "show", "cli-run"]) == 2
    assert "No run 'cli-run'" in capsys.readouterr().err


def test_train_says_before_launch_which_rows_max_length_cuts(tmp_path, capsys, fake_launch):
    rows = [{"instruction": f"q{i}", "input": "", "output": "a"} for i in range(3)]
    rows.append({"instruction": "palabra " * 300, "input": "", "output": "a"})
    main(["datasets", "import", str(_write(tmp_path / "long.jsonl", rows))])
    capsys.readouterr()
    assert main(["train", "--dataset", "long", "--base", "demo", "--set", "max_length=128"]) == 0
    out = capsys.readouterr().out
    note = next(line for line in out.splitlines() if line.startswith("Note:"))
    assert note.startswith("Note: 1 of 4 rows is longer than max_length 128: 1 dropped (the prompt alone fills it)")
    assert out.index("Note:") < out.index("Run ")  # said before the run is queued


def test_train_reports_every_bad_setting(capsys):
    assert main(["train", "--dataset", "informes-proyectos", "--set", "lora_r=0", "--set", "lr_scheduler=zig"]) == 2
    err = capsys.readouterr().err
    assert "lora_r: 0" in err and "lr_scheduler: 'zig'" in err


def test_train_wait_waits_for_the_automatic_evaluation_and_prints_its_table(tmp_path, capsys):
    code = _train_and_wait(tmp_path, capsys, "scored", 3, ["max_steps=2", "eval_steps=0", "lora_r=4"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Run scored completed." in out and "Evaluating base and adapter on validation rows (job" in out
    assert "Evaluation completed." in out and "exact_match" in out.split("Evaluation completed.")[1]
    from workbench.evaluation import results as eval_results
    from workbench.training import runs

    assert eval_results.results(runs.get_run("scored")["id"])  # the run's results are there, not only printed
    assert main(["runs", "delete", "scored", "--yes"]) == 0  # nothing is still running on it


def test_eval_on_a_run_being_evaluated_follows_that_job(trained_run, capsys):
    from workbench.evaluation import jobs as eval_jobs
    from workbench.evaluation import results as eval_results

    job_id = eval_jobs.start_eval(trained_run["id"], split="train", limit=2)  # a detached worker runs it
    assert eval_results.get_job(job_id)["status"] == "running"
    assert main(["eval", trained_run["name"], "--split", "validation"]) == 0
    out = capsys.readouterr().out
    assert f"is being evaluated already (job {job_id}, train split): following it." in out
    assert "Evaluation completed." in out and eval_results.get_job(job_id)["status"] == "completed"
    assert len(eval_results.list_jobs(trained_run["id"])) == 1  # followed, not started again


def test_import_holds_out_a_tenth_for_validation_unless_told_not_to(tmp_path, capsys):
    rows = [{"instruction": f"q{i}", "input": "", "output": f"a{i}"} for i in range(80)]
    assert main(["datasets", "import", str(_write(tmp_path / "eighty.jsonl", rows))]) == 0
    assert "Held out 8 rows for validation (seed 42)" in capsys.readouterr().out
    assert len(repository.get_revision("eighty", 1).split.validation) == 8
    assert main(["datasets", "import", str(_write(tmp_path / "three.jsonl", rows)), "--holdout", "3"]) == 0
    assert len(repository.get_revision("three", 1).split.validation) == 3
    assert main(["datasets", "import", str(_write(tmp_path / "none.jsonl", rows)), "--no-split"]) == 0
    assert "No rows held out for validation" in capsys.readouterr().out
    assert repository.get_revision("none", 1).split is None
    assert main(["datasets", "import", str(_write(tmp_path / "tiny.jsonl", rows[:6]))]) == 0
    assert repository.get_revision("tiny", 1).split is None  # too few rows to spare five


def test_set_up_fetches_the_gguf_converters_or_says_what_export_will_need(tmp_path, monkeypatch, capsys):
    import workbench.cli as cli
    from workbench.publish import llama_cpp
    from workbench.publish.merge import PublishError

    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(cli, "_prepare_default_base", lambda: None)  # the real base is another test's business

    def offline(progress=None):
        raise PublishError(llama_cpp._cannot_fetch("no network"))

    monkeypatch.setattr(llama_cpp, "converter", offline)
    assert main(["prepare-defaults"]) == 0  # the app still starts
    out = capsys.readouterr().out
    assert "GGUF export is not ready: Could not fetch llama.cpp's converters" in out and "no network" in out
    assert llama_cpp.missing_note().startswith("llama.cpp's converters are not on this machine yet")

    def online(progress=None):
        for script in (llama_cpp.MODEL_SCRIPT, llama_cpp.ADAPTER_SCRIPT):
            (llama_cpp.converter_dir() / script).parent.mkdir(parents=True, exist_ok=True)
            (llama_cpp.converter_dir() / script).write_text("# converter\n")
        return llama_cpp.converter_dir()

    monkeypatch.setattr(llama_cpp, "converter", online)
    assert main(["prepare-defaults"]) == 0
    assert f"GGUF converters ready: {llama_cpp.converter_dir()}" in capsys.readouterr().out
    assert llama_cpp.converters_ready() and llama_cpp.missing_note() is None


def test_preference_pairs_import_export_and_are_refused_for_sft_training(tmp_path, capsys):
    pair = {
        "conversations": [{"from": "human", "value": "¿Dónde está mi pedido?"}],
        "chosen": {"from": "gpt", "value": "Lo comprobamos."},
        "rejected": {"from": "gpt", "value": "No lo sé."},
    }
    assert main(["datasets", "import", str(_write(tmp_path / "pairs.jsonl", [pair])), "--no-split"]) == 0
    assert "preference" in capsys.readouterr().out
    out = tmp_path / "trl.jsonl"
    assert main(["datasets", "export", "pairs", "--out", str(out)]) == 0  # TRL's shape by default
    assert json.loads(out.read_text())["chosen"] == [{"role": "assistant", "content": "Lo comprobamos."}]
    capsys.readouterr()
    assert main(["train", "--dataset", "pairs", "--base", "demo"]) == 2
    err = capsys.readouterr().err
    assert "holds preference pairs, a chosen and a rejected answer per prompt (DPO, ORPO)" in err
    assert "or train this one with objective dpo (DPO), orpo (ORPO), kto (KTO)" in err


def test_a_csv_of_pairs_imports_with_a_column_mapping(tmp_path, capsys):
    source = tmp_path / "pares.csv"
    source.write_text("pregunta,buena,mala\n¿Hora?,Las tres.,No sé.\n", encoding="utf-8")
    code = main(
        ["datasets", "import", str(source), "--no-split", "--map", "instruction=pregunta"]
        + ["--map", "chosen=buena", "--map", "rejected=mala"]
    )
    assert code == 0, capsys.readouterr().err
    assert repository.load_rows("pares") == [
        {"prompt": [{"role": "user", "content": "¿Hora?"}], "chosen": "Las tres.", "rejected": "No sé."}
    ]
    assert main(["datasets", "import", str(source), "--name", "x", "--map", "winner=buena"]) == 2
    assert "FIELD one of instruction, input, output, system, chosen, rejected" in capsys.readouterr().err
