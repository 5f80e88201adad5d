"""Sweep expansion and validation: every combination a valid TrainConfig, problems named."""

import pytest

from workbench.experiments.sweep import MAX_RUNS, SweepError, SweepSpec, describe
from workbench.training.config import TrainConfig, cpu_preset

pytestmark = pytest.mark.no_demo_model
BASE = cpu_preset(TrainConfig(dataset="d", base_model="demo"))


def test_a_grid_makes_every_combination_in_order():
    spec = SweepSpec.parse(["learning_rate=1e-4,5e-4,2e-3", "num_epochs=1,2"])
    trials = spec.trial_settings()
    assert len(trials) == 6 and trials[0] == {"learning_rate": 1e-4, "num_epochs": 1.0}
    assert trials[-1] == {"learning_rate": 2e-3, "num_epochs": 2.0}
    configs = spec.configs(BASE)
    assert [c.learning_rate for _, c in configs[:2]] == [1e-4, 1e-4] and all(c.dataset == "d" for _, c in configs)
    assert spec.varied == ["learning_rate", "num_epochs"]


def test_values_take_the_settings_types_and_rank_brings_alpha_along():
    spec = SweepSpec.parse(["lora_r=8,16", "target_modules=attention,all-linear"])
    configs = spec.configs(BASE)
    assert {(c.lora_r, c.lora_alpha, c.target_modules) for _, c in configs} == {
        (8, 16, "attention"),
        (8, 16, "all-linear"),
        (16, 32, "attention"),
        (16, 32, "all-linear"),
    }
    assert isinstance(configs[0][1].lora_r, int)
    both = SweepSpec.parse(["lora_r=8", "lora_alpha=8,64"]).configs(BASE)
    assert [(c.lora_r, c.lora_alpha) for _, c in both] == [(8, 8), (8, 64)]


def test_random_trials_draw_log_uniform_within_the_range_and_repeat_with_the_seed():
    spec = SweepSpec.parse([], ["learning_rate=1e-4:3e-3:log", "lora_r=4:32"], trials=6, seed=7)
    trials = spec.trial_settings()
    assert len(trials) == 6
    assert all(1e-4 <= t["learning_rate"] <= 3e-3 and isinstance(t["lora_r"], int) for t in trials)
    assert (
        trials == SweepSpec.parse([], ["learning_rate=1e-4:3e-3:log", "lora_r=4:32"], trials=6, seed=7).trial_settings()
    )
    # A grid with trials: each combination with each draw.
    mixed = SweepSpec.parse(["num_epochs=1,2"], ["learning_rate=1e-4:3e-3:log"], trials=3)
    assert len(mixed.trial_settings()) == 6


@pytest.mark.parametrize(
    ("sweeps", "ranges", "trials", "problem"),
    [
        ([], [], 0, "nothing varies"),
        (["dataset=a,b"], [], 0, "dataset: cannot be swept"),
        (["learning_rate"], [], 0, "expected KEY=VALUES"),
        (["learning_rate=fast"], [], 0, "learning_rate: 'fast' is not a number"),
        (["lora_r=8", "seed=1", "num_epochs=1", "warmup=0"], [], 0, "at most 3"),
        ([], ["learning_rate=1e-3:1e-4"], 2, "LOW must be below HIGH"),
        ([], ["learning_rate=1e-4:1e-3"], 0, "only with --trials"),
        ([], [], 3, "give the ranges to draw from"),
        ([], ["target_modules=1:2"], 2, "only numeric settings take a range"),
    ],
)
def test_a_bad_sweep_is_refused_naming_the_problem(sweeps, ranges, trials, problem):
    with pytest.raises(SweepError, match=problem):
        SweepSpec.parse(sweeps, ranges, trials)


def test_an_invalid_combination_names_its_trial_and_the_setting():
    spec = SweepSpec.parse(["learning_rate=1e-4,2", "lora_dropout=0.1,1.5"])
    with pytest.raises(SweepError) as caught:
        spec.configs(BASE)
    text = str(caught.value)
    assert "learning_rate=2, lora_dropout=0.1: learning_rate: 2.0 — must be > 0 and ≤ 1" in text
    assert "learning_rate=0.0001, lora_dropout=1.5: lora_dropout" in text
    assert "learning_rate=0.0001, lora_dropout=0.1" not in text  # the valid one is not named


def test_too_many_runs_are_refused_before_anything_is_made():
    values = ",".join(str(n) for n in range(1, 8))
    spec = SweepSpec.parse([f"lora_r={values}", f"seed={values}"])
    with pytest.raises(SweepError, match=f"makes 49 runs: at most {MAX_RUNS}"):
        spec.configs(BASE)


def test_a_sweep_file_and_the_stored_form_give_the_same_trials(tmp_path):
    text = "sweep:\n  learning_rate: [1e-4, 1e-3]\nranges:\n  lora_r: '4:16'\ntrials: 2\nseed: 3\n"
    spec = SweepSpec.from_yaml(text, "sweep.yaml")
    assert SweepSpec.from_dict(spec.to_dict()).trial_settings() == spec.trial_settings()
    assert len(spec.trial_settings()) == 4
    with pytest.raises(SweepError, match="sweep.yaml: expected the keys"):
        SweepSpec.from_yaml("runs: 3\n", "sweep.yaml")
    with pytest.raises(SweepError, match="(?s)sweep.yaml: .*cannot be swept"):
        SweepSpec.from_yaml("sweep:\n  base_model: [a, b]\n", "sweep.yaml")


def test_a_trial_reads_as_its_settings():
    assert describe({"learning_rate": 0.0005, "lora_r": 16}) == "learning_rate=0.0005, lora_r=16"
