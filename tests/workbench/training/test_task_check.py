"""Stop when good: task checks while a run trains, their stopping rules, the best check kept, and a resume."""

import json

import pytest
import torch
from safetensors.torch import load_file

from tests.workbench.training.test_worker import Crash, get_run, make_run, metric_values
from workbench import paths
from workbench.training import task_check, worker
from workbench.training.config import ConfigError, TrainConfig, cpu_preset, with_objective
from workbench.training.task_check import CheckHistory, CheckPlan, resolve_metric

PLAN = CheckPlan(metric="exact_match", rows=[], every=2, stop_at=0.9, patience=2, max_new_tokens=8)


def scripted(monkeypatch, values):
    """Task checks that score `values` in turn (the demo model's answers are noise); records each call."""
    seen = []

    def score(plan, answers):
        assert len(answers) == len(plan.rows) and all(isinstance(a, str) for a in answers)
        seen.append(len(answers))
        return values[min(len(seen), len(values)) - 1]

    monkeypatch.setattr(task_check, "score", score)
    return seen


def record_of(run_id: int) -> dict:
    return json.loads((paths.home() / get_run(run_id)["adapter_dir"] / "workbench_run.json").read_text())


# ------------------------------------------------------------------------------------------------ rules


def test_auto_picks_exact_match_for_short_or_json_answers_and_rouge_for_prose():
    assert resolve_metric("auto", ['{"a": 1}', "positive", "42"]) == "exact_match"
    prose = ["This is a long answer that explains a whole lot of things in many more words than a label."] * 3
    assert resolve_metric("auto", prose) == "rouge_l"
    assert resolve_metric("field_f1", prose) == "field_f1"


def test_a_target_stops_at_the_check_that_reaches_it():
    history = CheckHistory([(2, 0.5), (4, 0.95)])
    assert history.stop_reason(PLAN, "exact match") == "reached exact match 0.95 ≥ 0.9 at step 4"


def test_patience_counts_checks_since_the_score_went_up_and_a_tie_keeps_the_later_adapter():
    history = CheckHistory([(2, 0.5), (4, 0.7), (6, 0.7)])
    assert history.best == (6, 0.7) and history.since_best == 1  # a tie is no progress, but trained longer
    assert history.stop_reason(PLAN, "exact match") is None
    history.checks.append((8, 0.6))
    assert history.best == (6, 0.7)
    assert history.stop_reason(PLAN, "exact match") == (
        "no better exact match for 2 checks: the best, 0.70 (its latest at step 6), is kept"
    )


def test_patience_waits_while_no_answer_is_right_yet():
    history = CheckHistory([(2, 0.0), (4, 0.0), (6, 0.0), (8, 0.0)])
    assert history.since_best == 0 and history.stop_reason(PLAN, "exact match") is None


def test_without_rules_a_run_never_stops_for_its_checks():
    plan = CheckPlan(metric="exact_match", rows=[], every=2, stop_at=0.0, patience=0, max_new_tokens=8)
    assert CheckHistory([(2, 1.0), (4, 0.0), (6, 0.0)]).stop_reason(plan, "exact match") is None


def test_the_settings_are_validated_with_what_to_do():
    with pytest.raises(ConfigError, match="stop_at: 1.5"):
        TrainConfig(dataset="d", task_metric="exact_match", stop_at=1.5).validate()
    with pytest.raises(ConfigError, match="the task metric, which is off"):
        TrainConfig(dataset="d", stop_patience=2).validate()
    with pytest.raises(ConfigError, match="does not\\s+have"):
        TrainConfig(dataset="d", objective="dpo", task_metric="auto").validate()
    with pytest.raises(ConfigError, match="task_metric: 'accuracy'"):
        TrainConfig(dataset="d", task_metric="accuracy").validate()


def test_a_preference_objective_turns_checks_off_and_sft_brings_the_recipes_back():
    preset = cpu_preset(TrainConfig(dataset="d"))
    dpo = with_objective(preset, "dpo", preset)
    assert dpo.validate().task_metric == "off" and dpo.stop_at == 0
    back = with_objective(dpo, "sft", preset)
    assert (back.task_metric, back.stop_at, back.stop_patience) == (
        preset.task_metric,
        preset.stop_at,
        preset.stop_patience,
    )


# ------------------------------------------------------------------------------------------------ runs


def test_the_demo_model_answers_a_batch_of_held_out_rows():
    from transformers import AutoModelForCausalLM

    from workbench.models.loading import load_tokenizer, resolve_base

    model = AutoModelForCausalLM.from_pretrained(resolve_base("demo"))
    tokenizer = load_tokenizer("demo")
    model.train()
    conversations = [[{"role": "user", "content": f"Di el número {i}."}] for i in range(3)]
    answers = task_check.answer(model, tokenizer, conversations, max_new_tokens=6)
    assert len(answers) == 3 and all(isinstance(a, str) for a in answers)
    assert model.training and tokenizer.padding_side == "right"  # left as they were


def test_a_run_stops_when_its_answers_reach_the_target(monkeypatch):
    seen = scripted(monkeypatch, [0.2, 0.5, 1.0])
    run_id = make_run(max_steps=24, task_metric="exact_match", task_check_steps=3, stop_at=0.9)
    assert worker.run_training(run_id) == "completed"
    assert [step for step, _ in metric_values(run_id, "task/exact_match")] == [3, 6, 9]
    assert max(step for step, _ in metric_values(run_id, "loss")) == 9  # stopped there, not at 24
    record = record_of(run_id)
    assert record["stopped_because"] == "reached exact match 1.00 ≥ 0.9 at step 9"
    checks = record["final_metrics"]["task_checks"]
    assert checks["best_step"] == 9 and checks["rows"] == seen[0] and checks["seconds"] >= 0
    assert record["restored_best_step"] is None


def test_patience_stops_and_the_best_checks_weights_are_the_adapter(monkeypatch):
    scripted(monkeypatch, [0.3, 0.8, 0.5, 0.4, 0.2])
    run_id = make_run(max_steps=24, task_metric="exact_match", task_check_steps=2, stop_patience=2)
    assert worker.run_training(run_id) == "completed"
    assert [s for s, _ in metric_values(run_id, "task/exact_match")] == [2, 4, 6, 8]
    record = record_of(run_id)
    assert record["stopped_because"].startswith(
        "no better exact match for 2 checks: the best, 0.80 (its latest at step 4)"
    )
    assert record["restored_best_step"] == 4
    best = load_file(str(paths.run_dir("run") / task_check.BEST_DIR / "lora.safetensors"))
    saved = load_file(str(paths.adapters_dir() / "run" / "adapter_model.safetensors"))
    assert set(best) == set(saved) and all(torch.equal(best[key], saved[key]) for key in best)


def test_a_run_that_runs_all_its_steps_says_so_and_keeps_its_best_check(monkeypatch):
    scripted(monkeypatch, [0.6, 0.4, 0.4])
    run_id = make_run(max_steps=8, task_metric="exact_match", task_check_steps=3)
    assert worker.run_training(run_id) == "completed"
    assert [s for s, _ in metric_values(run_id, "task/exact_match")] == [3, 6, 8]  # and once at the end
    record = record_of(run_id)
    assert record["stopped_because"].startswith("ran all its steps (exact match 0.40 at the end); the best")
    assert record["restored_best_step"] == 3


def test_a_resumed_run_keeps_its_checks_and_their_best_adapter(monkeypatch):
    scripted(monkeypatch, [0.7, 0.2, 0.1, 0.1])
    run_id = make_run(max_steps=12, save_steps=4, task_metric="exact_match", task_check_steps=2, stop_patience=3)
    assert worker.run_training(run_id, extra_callbacks=[Crash(at_step=6)]) == "failed"
    assert [s for s, _ in metric_values(run_id, "task/exact_match")] == [2, 4]  # it died before checking 6
    assert worker.run_training(run_id, resume=True) == "completed"
    # Resumed from checkpoint-4 with its two checks and the best one's weights (saved at step 2).
    assert [s for s, _ in metric_values(run_id, "task/exact_match")] == [2, 4, 6, 8]
    record = record_of(run_id)
    assert record["restored_best_step"] == 2
    assert (
        record["stopped_because"]
        == "no better exact match for 3 checks: the best, 0.70 (its latest at step 2), is kept"
    )


def test_without_held_out_rows_the_run_trains_and_says_checks_are_off(capsys):
    run_id = make_run(split=False, max_steps=4, task_metric="exact_match")
    assert worker.run_training(run_id) == "completed"
    assert "Task checks are off for this run: its dataset revision has no held-out rows" in capsys.readouterr().out
    assert metric_values(run_id, "task/exact_match") == []


def test_stop_and_keep_best_keeps_the_best_task_check(monkeypatch):
    from tests.workbench.training.test_callback import AppCancels
    from workbench.training import callback

    monkeypatch.setattr(callback, "CANCEL_CHECK_SECONDS", 0.0)
    scripted(monkeypatch, [0.9, 0.1])
    run_id = make_run(max_steps=24, task_metric="exact_match", task_check_steps=2)
    app = AppCancels(run_id, at_step=5, mode="keep_best")
    assert worker.run_training(run_id, extra_callbacks=[app]) == "cancelled"
    record = record_of(run_id)
    assert record["restored_best_step"] == 2
    assert record["stopped_because"] == "stopped from the app, keeping the best check"


def test_a_sweep_run_far_below_its_finished_peers_is_pruned_and_keeps_its_adapter(monkeypatch):
    from workbench import store
    from workbench.experiments import group, ranking
    from workbench.experiments.sweep import SweepSpec
    from workbench.jobs import registry

    make_run(max_steps=2)  # the dataset; this run is not part of the experiment
    base = TrainConfig(**{**json.loads(get_run(1)["config_json"])}).with_updates(
        max_steps=24, task_metric="exact_match", task_check_steps=2, prune_margin=0.2, stop_patience=0
    )
    experiment_id = group.create_experiment("lr", base, SweepSpec.parse(["learning_rate=1e-2,2e-2,3e-2,4e-2"]))
    first, second, pruned_before, pruned = group.experiment_runs(experiment_id)
    for finished, score, why in ((first, 0.9, "reached"), (second, 0.8, None), (pruned_before, 0.1, "pruned: …")):
        result = {"final_metrics": {"stopped_because": why}}
        registry.update(finished["job_id"], {"status": "completed", "result_json": json.dumps(result)})
        store.open_db()["metrics"].insert_all(
            [
                {"run_id": finished["id"], "step": s, "epoch": 0, "name": "task/exact_match", "value": score}
                for s in (2, 4)
            ]
        )
    scripted(monkeypatch, [0.6, 0.5, 0.5])
    assert worker.run_training(pruned["id"], schedule_next=False) == "completed"
    record = record_of(pruned["id"])
    assert record["stopped_because"] == (
        "pruned: exact match 0.50 at step 4, 0.2 or more below the median 0.85 of the experiment's 2 finished runs "
        "there"
    )
    assert record["restored_best_step"] == 2  # its best check is still its adapter
    assert ranking.outcome(get_run(pruned["id"])) == "pruned"
    assert task_check.peer_scores(store.open_db(), experiment_id, pruned["id"], "task/exact_match", 3) == [0.9, 0.8]


def test_one_finished_peer_is_not_enough_to_prune():
    one, two = [0.9] * (task_check.PRUNE_MIN_PEERS - 1), [0.9] * task_check.PRUNE_MIN_PEERS
    assert task_check.prune_reason("exact match", 0.1, 4, one, 0.2) is None  # one seed's luck
    assert task_check.prune_reason("exact match", 0.8, 4, two, 0.2) is None  # within the margin
    assert task_check.prune_reason("exact match", 0.1, 4, two, 0.2) == (
        "pruned: exact match 0.10 at step 4, 0.2 or more below the median 0.90 of the experiment's 2 finished runs "
        "there"
    )
