"""From a dataset revision to the conversational rows SFTTrainer learns from (no model needed)."""

import pytest

from workbench.data import repository
from workbench.data.split import SplitSpec
from workbench.training.config import TrainConfig
from workbench.training.data import TrainingError
from workbench.training.objectives import build_datasets
from workbench.training.objectives.sft import training_row

ALPACA = [
    {"instruction": f"Question {i}", "input": f"context {i}" if i % 2 else "", "output": f"Answer {i}"}
    for i in range(10)
]
CHAT = [
    {
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Bye"},
            {"role": "assistant", "content": "Goodbye."},
        ]
    },
    {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]},
]


def _config(**kw) -> TrainConfig:
    return TrainConfig(dataset="d", base_model="demo", **kw)


def test_alpaca_rows_become_prompt_and_completion_messages():
    revision = repository.create_dataset("d", "alpaca", ALPACA)
    train, validation, info = build_datasets(_config(), revision.id)
    assert validation is None  # no stored split: every row trains
    assert len(train) == 10 and info["train_rows"] == 10 and info["validation_rows"] == 0
    assert set(train.column_names) == {"prompt", "completion"}
    assert train[1] == {
        "prompt": [{"role": "user", "content": "Question 1\n\ncontext 1"}],
        "completion": [{"role": "assistant", "content": "Answer 1"}],
    }
    assert info["revision_sha256"] == revision.sha256 and info["revision_n"] == 1
    assert info["dataset"] == "d" and info["shape"] == "prompt-completion"


def test_multi_turn_chat_learns_the_last_assistant_turn_with_the_rest_as_prompt():
    row = training_row(CHAT[0], "chat", _config())
    assert [m["role"] for m in row["prompt"]] == ["system", "user", "assistant", "user"]
    assert row["completion"] == [{"role": "assistant", "content": "Goodbye."}]


def test_system_prompt_is_added_only_to_rows_without_one():
    config = _config(system_prompt="You are a helpful assistant.")
    plain = training_row(CHAT[1], "chat", config)
    assert plain["prompt"][0] == {"role": "system", "content": "You are a helpful assistant."}
    own = training_row(CHAT[0], "chat", config)
    assert [m["content"] for m in own["prompt"] if m["role"] == "system"] == ["Be terse."]
    assert training_row(CHAT[1], "chat", _config(system_prompt="  "))["prompt"][0]["role"] == "user"
    alpaca = training_row({"instruction": "q", "input": "", "output": "a", "system": "Own"}, "alpaca", config)
    assert alpaca["prompt"][0] == {"role": "system", "content": "Own"}


def test_train_on_inputs_gives_whole_conversations():
    revision = repository.create_dataset("d", "chat", CHAT)
    train, _, info = build_datasets(_config(train_on_inputs=True, system_prompt="Sys"), revision.id)
    assert train.column_names == ["messages"] and info["shape"] == "messages"
    assert train[0]["messages"] == CHAT[0]["messages"]
    assert [m["role"] for m in train[1]["messages"]] == ["system", "user", "assistant"]


def test_the_stored_validation_split_is_respected():
    revision = repository.create_dataset("d", "alpaca", ALPACA)
    split = repository.make_split("d", 1, SplitSpec(seed=7, validation_ratio=0.3))
    train, validation, info = build_datasets(_config(), repository.get_revision("d").id)
    assert (info["train_rows"], info["validation_rows"]) == (7, 3)
    assert [r["completion"][0]["content"] for r in validation] == [f"Answer {i}" for i in split.validation]
    assert [r["completion"][0]["content"] for r in train] == [f"Answer {i}" for i in split.train]
    assert revision.id == repository.get_revision("d").id


def test_rows_with_errors_are_refused_with_the_problems():
    rows = [*ALPACA, {"instruction": "", "input": "", "output": "x"}, {"instruction": "q", "input": "", "output": 3}]
    revision = repository.create_dataset("d", "alpaca", rows)
    with pytest.raises(TrainingError) as error:
        build_datasets(_config(), revision.id)
    message = str(error.value)
    assert "2 problem(s) in 2 row(s)" in message and "Datasets page" in message
    assert "d.jsonl:11: instruction: empty" in message
    assert "d.jsonl:12: output: must be a string" in message


def test_a_dataset_too_small_to_train_is_refused():
    revision = repository.create_dataset("d", "alpaca", ALPACA[:1])
    with pytest.raises(TrainingError, match="too small.*1 training row"):
        build_datasets(_config(), revision.id)
    # Two rows, one held out for validation, leave one training row: still too small.
    repository.save_rows("d", ALPACA[:2], base_revision=1)
    repository.make_split("d", 2, SplitSpec(seed=1, validation_ratio=0.5))
    with pytest.raises(TrainingError, match="too small"):
        build_datasets(_config(), repository.get_revision("d").id)
