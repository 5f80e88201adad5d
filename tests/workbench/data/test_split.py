import json

import pytest

from workbench.data.split import Split, SplitSpec, apply_split, split_overlap, split_rows


def _rows(n):
    return [{"instruction": f"Question number {i}", "input": "", "output": f"answer {i}"} for i in range(n)]


def test_same_seed_same_split_and_other_seed_differs():
    first = split_rows(200, SplitSpec(seed=7, validation_ratio=0.2))
    assert split_rows(200, SplitSpec(seed=7, validation_ratio=0.2)) == first
    assert split_rows(200, SplitSpec(seed=8, validation_ratio=0.2)).validation != first.validation


def test_split_is_disjoint_complete_and_sorted():
    split = split_rows(101, SplitSpec(seed=1, validation_ratio=0.25))
    assert not set(split.train) & set(split.validation)
    assert sorted(split.train + split.validation) == list(range(101))
    assert split.train == sorted(split.train) and split.validation == sorted(split.validation)
    assert split.validation != list(range(len(split.validation))), "the rows were not shuffled"


@pytest.mark.parametrize(
    ("n", "ratio", "expected"),
    [
        (100, 0.1, 10),
        (15, 0.1, 2),  # 1.5 rounds up
        (14, 0.1, 1),  # 1.4 rounds down
        (5, 0.1, 1),  # at least one validation row
        (2, 0.9, 1),  # and at least one training row
        (1, 0.5, 0),
        (50, 0.0, 0),
    ],
)
def test_ratio_sizes(n, ratio, expected):
    split = split_rows(n, SplitSpec(seed=3, validation_ratio=ratio))
    assert len(split.validation) == expected and len(split.train) == n - expected


def test_count_takes_precedence_over_ratio():
    split = split_rows(40, SplitSpec(validation_ratio=0.5, validation_count=3))
    assert len(split.validation) == 3 and len(split.train) == 37
    assert len(split_rows(40, SplitSpec(validation_ratio=None, validation_count=0)).validation) == 0
    assert len(split_rows(40, SplitSpec(validation_ratio=None, validation_count=39)).train) == 1


@pytest.mark.parametrize(
    ("n", "spec", "message"),
    [
        (0, SplitSpec(), "the dataset has no rows"),
        (10, SplitSpec(validation_ratio=1.0), r"ratio must be from 0 up to \(not including\) 1, got 1.0"),
        (10, SplitSpec(validation_ratio=-0.1), "ratio must be from 0"),
        (10, SplitSpec(validation_ratio=None), "give a validation ratio"),
        (10, SplitSpec(validation_count=10), "count must be a whole number from 0 to 9.*got 10"),
        (10, SplitSpec(validation_count=-1), "from 0 to 9"),
        (10, SplitSpec(validation_count=2.5), "whole number"),
        (10, SplitSpec(seed="x"), "seed must be a whole number"),
    ],
)
def test_bad_specs_raise_saying_what_is_wrong(n, spec, message):
    with pytest.raises(ValueError, match=message):
        split_rows(n, spec)


def test_round_trip_through_json():
    split = split_rows(30, SplitSpec(seed=5, validation_count=4))
    data = json.loads(json.dumps(split.to_dict()))
    assert data["spec"] == {"seed": 5, "validation_ratio": 0.1, "validation_count": 4}
    assert Split.from_dict(data) == split
    assert SplitSpec.from_dict({}) == SplitSpec()
    assert SplitSpec.from_dict({"seed": 9, "validation_ratio": None, "validation_count": 2}) == SplitSpec(
        seed=9, validation_ratio=None, validation_count=2
    )


def test_apply_split_returns_the_rows():
    rows = _rows(20)
    split = split_rows(20, SplitSpec(seed=2, validation_count=5))
    train, validation = apply_split(rows, split)
    assert train == [rows[i] for i in split.train] and validation == [rows[i] for i in split.validation]
    with pytest.raises(ValueError, match="dataset has 10 rows"):
        apply_split(rows[:10], split)


def test_overlap_finds_a_leaked_prompt_and_duplicate_rows():
    rows = _rows(30)
    split = split_rows(30, SplitSpec(seed=4, validation_count=6))
    assert split_overlap(rows, "alpaca", split) == []

    v1, v2 = split.validation[:2]
    t1, t2 = split.train[:2]
    # the same question (other case and spacing) with another answer: leakage of the prompt
    rows[v1] = {"instruction": "  QUESTION   number " + str(t1) + " ", "input": "", "output": "different"}
    rows[v2] = dict(rows[t2])  # an exact copy of a training row
    assert split_overlap(rows, "alpaca", split) == sorted([(v1, t1), (v2, t2)])


def test_overlap_in_chat_rows_compares_the_whole_prompt():
    def chat(system, user, answer):
        return {
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
                {"role": "assistant", "content": answer},
            ]
        }

    rows = [
        chat("Be brief.", "What is 2+2?", "4"),
        chat("Be verbose.", "What is 2+2?", "Four, because…"),
        chat("Be brief.", "what is 2+2?", "four"),
    ]
    split = Split(spec=SplitSpec(), train=[0, 1], validation=[2])
    assert split_overlap(rows, "chat", split) == [(2, 0)]  # not row 1: its system prompt differs
    empty_prompts = [
        {"messages": [{"role": "assistant", "content": "a"}]},
        {"messages": [{"role": "assistant", "content": "b"}]},
    ]
    assert split_overlap(empty_prompts, "chat", Split(SplitSpec(), [0], [1])) == []


@pytest.mark.parametrize(("rows", "held_out"), [(9, 0), (10, 2), (14, 2), (30, 3), (60, 6), (200, 20)])
def test_a_tiny_set_holds_out_a_tenth_but_at_least_two_rows(rows, held_out):
    from workbench.data.split import proposed_holdout

    assert proposed_holdout(rows) == held_out  # 14 hand-written rows used to lose 5 (36 %) to validation


def test_the_trade_off_of_a_small_held_out_count_is_said():
    from workbench.data.split import holdout_tradeoff

    assert holdout_tradeoff(14, 2) == (
        "Each held-out row is 50% of the held-out score, so 2 rows give a rough score; holding out more makes it "
        "steadier but leaves fewer of the 14 rows to learn from."
    )
    assert holdout_tradeoff(200, 20) is None and holdout_tradeoff(5, 0) is None
