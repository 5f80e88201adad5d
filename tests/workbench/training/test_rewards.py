"""GRPO's rewards: the evaluation's own metrics on right, wrong and malformed answers, their parsing and checks."""

from __future__ import annotations

import pytest

from workbench import metrics
from workbench.training import rewards as r
from workbench.training.config import ConfigError, TrainConfig, cpu_preset, with_objective

pytestmark = pytest.mark.no_demo_model

REFERENCE = '{"priority": "high", "team": "billing", "tags": ["refund"]}'
SETTINGS = r.RewardSettings(pattern=r'^\{.*"priority"', max_chars=20)


def _score(name: str, answer: str, reference: str = REFERENCE, settings: r.RewardSettings = SETTINGS) -> float:
    functions, _ = r.reward_functions(name, settings)
    completion = [{"role": "assistant", "content": answer}]
    return functions[0](prompts=[[]], completions=[completion], reference=[reference])[0]


@pytest.mark.parametrize(
    ("name", "right", "wrong", "malformed"),
    [
        ("json_valid", REFERENCE, "[1, 2]", '{"priority": "high",'),
        ("json_keys_match", '{"priority": "low", "team": "x", "tags": []}', '{"priority": "high"}', "priority: high"),
        ("field_f1", REFERENCE, '{"priority": "low", "team": "sales", "tags": ["other"]}', "not json"),
        ("exact_match", REFERENCE, REFERENCE.replace("high", "low"), "```\n" + REFERENCE),
    ],
)
def test_each_reward_scores_right_wrong_and_malformed_answers(name, right, wrong, malformed):
    assert _score(name, right) == 1.0
    assert _score(name, malformed) == 0.0
    if name != "json_valid":  # any JSON is valid JSON
        assert _score(name, wrong) == 0.0


def test_rewards_are_the_evaluation_metrics_not_a_copy():
    answer = '{"priority": "high", "team": "sales", "tags": ["refund"]}'
    scores = metrics.score_row(answer, REFERENCE)
    assert _score("field_f1", answer) == pytest.approx(scores["field_f1"]) == pytest.approx(2 / 3)
    assert _score("rouge_l", "the cat sat", "the cat sat down") == pytest.approx(
        metrics.rouge_l("the cat sat", "the cat sat down")
    )
    assert _score("json_keys_match", answer) == scores["json_keys_match"] == 1.0


def test_pattern_and_length_rewards():
    assert _score("regex", '{"priority": "high"}') == 1.0
    assert _score("regex", "The priority is high") == 0.0
    assert _score("length", "x" * 20) == 1.0
    assert _score("length", "x" * 30) == pytest.approx(0.5)  # half way to twice the limit
    assert _score("length", "x" * 45) == 0.0


def test_a_reward_that_raises_scores_zero_and_says_why_once():
    said: list[str] = []
    functions, _ = r.reward_functions("regex", r.RewardSettings(pattern="("), said.append)  # bypasses validation
    completions = [[{"role": "assistant", "content": "a"}], [{"role": "assistant", "content": "b"}]]
    assert functions[0](prompts=[[], []], completions=completions, reference=["", ""]) == [0.0, 0.0]
    assert len(said) == 1 and "Reward regex: error" in said[0] and "scores 0" in said[0]


def test_rewards_parse_with_weights_and_name_their_names_for_trl():
    assert r.parse("field_f1:1, json_valid:0.5,rouge_l") == [("field_f1", 1.0), ("json_valid", 0.5), ("rouge_l", 1.0)]
    functions, weights = r.reward_functions("field_f1:2,json_valid", SETTINGS)
    assert [f.__name__ for f in functions] == ["field_f1", "json_valid"] and weights == [2.0, 1.0]
    assert r.weighted({"field_f1": 0.5, "json_valid": 1.0}, r.parse("field_f1:2,json_valid:0.5")) == 1.5


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"rewards": "bleu"}, "'bleu' is not a reward"),
        ({"rewards": "field_f1:high"}, "the weight of 'field_f1' is 'high', not a number"),
        ({"rewards": "field_f1:0,json_valid:0"}, "the weights sum to zero"),
        ({"rewards": "field_f1,field_f1"}, "named twice"),
        ({"rewards": ""}, "none chosen"),
        ({"rewards": "regex", "reward_pattern": "([a-z"}, "does not compile"),
        ({"rewards": "regex"}, "reward_pattern: empty"),
        ({"rewards": "length"}, "reward_max_chars: must be ≥ 1"),
        ({"num_generations": 1}, "at least 2"),
        ({"num_generations": 3}, "does not divide batch × accumulation (4 × 1)"),
        ({"temperature": 0.0}, "temperature: 0.0"),
        ({"beta": -0.1}, "beta: -0.1"),
    ],
)
def test_grpo_settings_are_validated_with_what_to_do(settings, problem):
    config = with_objective(cpu_preset(TrainConfig(dataset="d")), "grpo", cpu_preset())
    config.validate()  # the defaults are valid
    with pytest.raises(ConfigError) as error:
        config.with_updates(**settings).validate()
    assert problem in str(error.value)


def test_reference_rewards_need_references_of_the_right_kind():
    assert r.reference_problems("json_valid,regex", ["", ""], "d") == []
    assert "has none" in r.reference_problems("exact_match", ["", " "], "d")[0]
    text_only = r.reference_problems("field_f1:1,rouge_l:1", ["plain answer", "another"], "notes")
    assert len(text_only) == 1 and "no reference answer of dataset 'notes' is JSON" in text_only[0]


def test_rewards_that_fit_text_answers_replace_json_ones_and_nothing_else():
    text, json_answers = ["plain answer", "another"], ['{"a": 1}', "plain"]
    assert r.fitting(r.FOR_JSON, text, "notes") == "rouge_l:1" == r.FOR_TEXT  # JSON rewards on text answers
    assert r.fitting(r.FOR_JSON, ["Paris", "4", "Red", '"x"'], "qa") == r.FOR_TEXT  # bare JSON values are text here
    assert r.fitting(r.FOR_JSON, json_answers, "d") is None  # they fit
    assert r.fitting("exact_match:1", text, "notes") is None  # the user's fitting choice stays
    assert r.fitting(r.FOR_JSON, ["", " "], "d") is None  # no answers: no reference reward fits, the user says
    assert r.fitting("bleu", text, "notes") is None  # unparsable: the settings' own error says why
    assert r.reference_problems(r.fitting(r.FOR_JSON, text, "notes") or "", text, "notes") == []


def test_the_train_page_asks_the_registry_for_rewards_that_fit_the_dataset(workbench_home):
    from workbench.data import repository
    from workbench.training import runs

    rows = [{"instruction": f"q{i}", "input": "", "output": f"a{i}"} for i in range(3)]
    repository.create_dataset("notes", "alpaca", rows)
    grpo = TrainConfig(dataset="notes", objective="grpo")
    assert runs.fitting_rewards(grpo) == "rouge_l:1"
    assert runs.fitting_rewards(TrainConfig(dataset="notes", objective="grpo", rewards="exact_match:1")) is None
    assert runs.fitting_rewards(TrainConfig(dataset="notes")) is None  # SFT has no rewards
    assert runs.fitting_rewards(TrainConfig(dataset="absent", objective="grpo")) is None
