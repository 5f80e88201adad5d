"""Preference objectives (DPO, ORPO, KTO) end to end through the worker on the demo model, and their rows."""

import json

import pytest
from safetensors.torch import load_file
from transformers import TrainerCallback

from workbench import paths, store
from workbench.data import repository
from workbench.data.split import SplitSpec
from workbench.evaluation import results as eval_results
from workbench.evaluation.jobs import evaluate_after_training
from workbench.jobs import registry
from workbench.training import runs
from workbench.training.config import ConfigError, TrainConfig
from workbench.training.data import TrainingError
from workbench.training.objectives import OBJECTIVES, build_datasets, objectives_for_kind
from workbench.training.worker import run_training

PAIRS = [
    {
        "prompt": [{"role": "user", "content": f"Repite: {w}"}],
        "chosen": w,
        "rejected": f"{w} {w} no sé",
    }
    for w in ("uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez")
]
FEEDBACK = [
    {"prompt": [{"role": "user", "content": f"Repite: {w}"}], "completion": answer, "label": good}
    for w in ("uno", "dos", "tres", "cuatro", "cinco")
    for answer, good in ((w, True), (f"{w}?? no", False))
]


def _pairs(name="pairs", rows=PAIRS, kind="preference"):
    repository.create_dataset(name, kind, rows)
    repository.make_split(name, 1, SplitSpec(seed=1, validation_ratio=None, validation_count=2))


def _config(tiny_demo_run, **settings) -> TrainConfig:
    base = {**tiny_demo_run, "dataset": "pairs", "max_steps": 4, "learning_rate": 5e-3, "max_length": 64}
    return TrainConfig(**{**base, **settings})


def _metric_names(run_id: int) -> set[str]:
    return {r["name"] for r in store.open_db().query("select distinct name from metrics where run_id = ?", [run_id])}


def test_each_objective_declares_what_it_learns_from():
    assert [o.name for o in objectives_for_kind("preference")] == ["dpo", "orpo", "kto"]
    assert [o.name for o in objectives_for_kind("feedback")] == ["kto"]
    assert [o.name for o in objectives_for_kind("alpaca")] == ["sft", "grpo"]
    assert set(OBJECTIVES) == {"sft", "dpo", "orpo", "kto", "grpo"}


def test_preference_settings_are_validated():
    with pytest.raises(ConfigError) as error:
        TrainConfig(dataset="d", objective="ppo", beta=0, loss_type="ipo").validate()
    text = str(error.value)
    assert "objective: 'ppo' is not one of sft, dpo, orpo, kto, grpo" in text
    assert "beta: 0" in text
    with pytest.raises(ConfigError, match="loss_type: 'kto' does not go with objective 'dpo'"):
        TrainConfig(dataset="d", objective="dpo", loss_type="kto").validate()
    TrainConfig(dataset="d", objective="dpo", loss_type="ipo").validate()
    TrainConfig(dataset="d", objective="dpo", loss_type="sigmoid+sft").validate()  # RPO
    TrainConfig(dataset="d", objective="kto", loss_type="apo_zero_unpaired").validate()


def test_a_dataset_that_does_not_fit_the_objective_is_refused_with_what_to_do(workbench_home, tiny_demo_run):
    _pairs()
    with pytest.raises(runs.RunError, match="learns from instruction rows .* or train this one with objective dpo"):
        runs.create_run(_config(tiny_demo_run, objective="sft"))
    repository.create_dataset("words", "alpaca", [{"instruction": "a", "input": "", "output": "b"}] * 3)
    with pytest.raises(runs.RunError, match="Dataset 'words' holds instruction rows.*objective 'dpo'"):
        runs.create_run(_config(tiny_demo_run, objective="dpo", dataset="words"))


def test_rows_take_each_trainers_shape_with_the_system_prompt(workbench_home, tiny_demo_run):
    _pairs()
    revision = repository.get_revision("pairs").id
    train, validation, info = build_datasets(
        _config(tiny_demo_run, objective="dpo", system_prompt="Sé breve."), revision
    )
    assert (info["train_rows"], info["validation_rows"], info["shape"]) == (8, 2, "prompt-chosen-rejected")
    row = train[0]
    assert row["prompt"][0] == {"role": "system", "content": "Sé breve."}
    assert row["chosen"][0]["role"] == "assistant" and row["rejected"][0]["role"] == "assistant"
    # KTO reads each pair as a good and a bad answer (TRL's unpair_preference_dataset)
    train, _, info = build_datasets(_config(tiny_demo_run, objective="kto"), revision)
    assert info["train_rows"] == 16 and sorted(train["label"]) == [False] * 8 + [True] * 8


@pytest.mark.parametrize(("objective", "loss"), [("dpo", "auto"), ("dpo", "sigmoid+sft"), ("orpo", "auto")])
def test_a_preference_run_trains_logs_rewards_and_saves_only_its_adapter(
    workbench_home, tiny_demo_run, objective, loss, capsys
):
    _pairs()
    run_id = runs.create_run(_config(tiny_demo_run, objective=objective, loss_type=loss), name=f"{objective}-run")
    assert run_training(run_id, schedule_next=False) == "completed", runs.get_run(run_id)["error"]
    names = _metric_names(run_id)
    assert {"loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"} <= names
    assert "tokens_per_second" in names
    adapter = paths.adapter_dir(f"{objective}-run")
    assert load_file(adapter / "adapter_model.safetensors")
    record = json.loads((adapter / paths.RUN_FILE).read_text())
    assert record["config"]["objective"] == objective and record["training_shape"] == "prompt-chosen-rejected"
    assert f"objective {objective.upper()}" in capsys.readouterr().out


def test_dpo_from_an_sft_run_keeps_that_adapter_as_reference_and_saves_one_adapter(
    workbench_home, tiny_demo_run, trained_run, capsys
):
    _pairs()
    config = _config(tiny_demo_run, objective="dpo", start_from=trained_run["name"], lora_r=4)
    run_id = runs.create_run(config, name="dpo-after-sft")
    assert run_training(run_id, schedule_next=False) == "completed", runs.get_run(run_id)["error"]
    adapter = paths.adapter_dir("dpo-after-sft")
    assert not (adapter / "ref").exists()  # the frozen reference copy is not saved
    sft_weights = load_file(paths.adapter_dir(trained_run["name"]) / "adapter_model.safetensors")
    dpo_weights = load_file(adapter / "adapter_model.safetensors")
    assert set(dpo_weights) == set(sft_weights)  # the SFT run's LoRA shape went on training
    assert any(not dpo_weights[k].equal(sft_weights[k]) for k in sft_weights)
    log = capsys.readouterr().out
    assert "Going on training the adapter of run 'words-demo'" in log and "PEFT's 'ref' adapter" in log

    # scored on the SFT run's held-out rows, so that SFT and DPO compare on one test
    run = runs.get_run(run_id)
    assert runs.evaluation_revision_id(run) == trained_run["dataset_revision_id"]
    store.open_db()["runs"].update(run_id, {"config_json": config.with_updates(auto_evaluate=True).to_json()})
    evaluate_after_training(registry.get(run["job_id"]))
    job = eval_results.latest_job(run_id)
    assert job["revision_id"] == trained_run["dataset_revision_id"] and job["split"] == "validation"
    assert "of 'words' revision 1" in capsys.readouterr().out


def test_start_from_must_be_a_finished_run_of_the_same_base(workbench_home, tiny_demo_run):
    _pairs()
    with pytest.raises(runs.RunError, match="start_from: there is no run 'nope'"):
        runs.create_run(_config(tiny_demo_run, objective="dpo", start_from="nope"))


def test_kto_learns_from_labelled_answers(workbench_home, tiny_demo_run):
    _pairs(rows=FEEDBACK, kind="feedback")
    run_id = runs.create_run(_config(tiny_demo_run, objective="kto", per_device_batch_size=4), name="kto-run")
    assert run_training(run_id, schedule_next=False) == "completed", runs.get_run(run_id)["error"]
    assert {"loss", "kl", "rewards/chosen", "tokens_per_second"} <= _metric_names(run_id)


def test_a_feedback_dataset_cannot_train_dpo(workbench_home, tiny_demo_run):
    _pairs(rows=FEEDBACK, kind="feedback")
    with pytest.raises(runs.RunError, match="train this one with objective kto"):
        runs.create_run(_config(tiny_demo_run, objective="dpo"))
    # the worker checks it too (a run registered before its dataset changed kind)
    with pytest.raises(TrainingError, match="objective 'orpo'"):
        build_datasets(_config(tiny_demo_run, objective="orpo"), repository.get_revision("pairs").id)


class _Crash(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 3:
            raise RuntimeError("simulated crash")


@pytest.mark.parametrize(("objective", "kind", "rows"), [("orpo", "preference", PAIRS), ("kto", "feedback", FEEDBACK)])
def test_a_crashed_preference_run_resumes_from_its_checkpoint(workbench_home, tiny_demo_run, objective, kind, rows):
    _pairs(rows=rows, kind=kind)
    config = _config(tiny_demo_run, objective=objective, max_steps=6, save_steps=2, per_device_batch_size=2)
    run_id = runs.create_run(config, name=f"{objective}-crash")
    assert run_training(run_id, extra_callbacks=[_Crash()], schedule_next=False) == "failed"
    assert runs.latest_checkpoint(f"{objective}-crash").name == "checkpoint-2"
    assert run_training(run_id, resume=True, schedule_next=False) == "completed", runs.get_run(run_id)["error"]
    steps = [row["step"] for row in runs.run_metrics(run_id, ("loss",))]
    assert steps == list(range(1, 7))  # the step logged after the checkpoint was dropped, then done again
    record = json.loads((paths.adapter_dir(f"{objective}-crash") / paths.RUN_FILE).read_text())
    assert record["resumed_from"] == "checkpoint-2"


def test_each_objective_brings_its_measured_learning_rate_unless_given():
    from workbench.training.config import OBJECTIVE_DEFAULTS, cpu_preset, with_objective

    recipe = cpu_preset(TrainConfig(dataset="d"))
    dpo = with_objective(recipe, "dpo", recipe)
    assert (dpo.objective, dpo.learning_rate, dpo.num_epochs) == ("dpo", 2e-5, 1.0)
    assert with_objective(recipe, "orpo", recipe).learning_rate == OBJECTIVE_DEFAULTS["orpo"]["learning_rate"]
    assert with_objective(recipe, "dpo", recipe, keep={"learning_rate"}).learning_rate == recipe.learning_rate
    back = with_objective(dpo, "sft", recipe)
    assert (back.learning_rate, back.num_epochs) == (recipe.learning_rate, recipe.num_epochs)
    grpo = with_objective(recipe, "grpo", recipe)
    assert (grpo.max_steps, grpo.per_device_batch_size, grpo.task_check_steps) == (30, 4, 10)
    back = with_objective(with_objective(grpo, "dpo", recipe), "sft", recipe)
    assert (back.max_steps, back.per_device_batch_size, back.beta, back.stop_patience) == (-1, 2, 0.1, 2)


def test_cli_set_objective_takes_its_defaults_and_keeps_what_is_given(workbench_home, capsys):
    import argparse

    from workbench.cli.training import build_config

    def config(*sets):
        args = argparse.Namespace(config=None, set=list(sets), dataset="pairs", base="demo")
        return build_config(args)

    assert config("objective=dpo").learning_rate == 2e-5
    assert config("objective=dpo", "learning_rate=1e-4").learning_rate == 1e-4
    assert config().learning_rate == 2e-3  # SFT: the CPU preset's


def test_a_dpo_adapter_publishes_like_any_other(workbench_home, tiny_demo_run, trained_run):
    """Merged into its base (the folder both Ollama routes and the GGUF export start from), and fit to travel
    alone as a GGUF adapter: a preference run's adapter is a plain PEFT LoRA adapter."""
    from transformers import AutoModelForCausalLM

    from workbench.publish.merge import adapter_problems, merge_run

    _pairs()
    run_id = runs.create_run(_config(tiny_demo_run, objective="dpo", start_from=trained_run["name"]), name="dpo-pub")
    assert run_training(run_id, schedule_next=False) == "completed", runs.get_run(run_id)["error"]
    assert adapter_problems(paths.adapter_dir("dpo-pub")) == []
    folder = merge_run(run_id)
    assert AutoModelForCausalLM.from_pretrained(folder).config.num_hidden_layers == 2
