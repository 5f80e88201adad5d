"""Reading a file to predict over: every importer format, the answer optional, problems named at their line."""

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from workbench.data import formats
from workbench.prediction.inputs import InputError, guess_columns, numeric_inputs, prompt_text, read_inputs


def _jsonl(*rows) -> bytes:
    return "\n".join(json.dumps(r) for r in rows).encode()


def test_rows_with_and_without_answers_in_every_json_format():
    alpaca = read_inputs(
        _jsonl({"instruction": "Repite", "input": "uno"}, {"instruction": "b", "output": "c"}), "a.jsonl"
    )
    assert [(r.line, r.messages[-1]["content"], r.reference) for r in alpaca] == [
        (1, "Repite\n\nuno", None),
        (2, "b", "c"),
    ]
    completion = read_inputs(_jsonl({"prompt": "hola"}, {"prompt": "adiós", "completion": "bye"}), "c.jsonl")
    assert [(r.messages, r.reference) for r in completion] == [
        ([{"role": "user", "content": "hola"}], None),
        ([{"role": "user", "content": "adiós"}], "bye"),
    ]
    chat = read_inputs(
        _jsonl(
            {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}]},
            {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
        ),
        "chat.jsonl",
    )
    assert [r.messages[0]["role"] for r in chat] == ["system", "user"]
    assert [r.reference for r in chat] == [None, "a"]
    sharegpt = read_inputs(_jsonl({"conversations": [{"from": "human", "value": "hey"}]}), "s.json")
    assert sharegpt[0].messages == [{"role": "user", "content": "hey"}] and sharegpt[0].reference is None


def test_a_csv_column_is_the_input_and_another_the_reference():
    data = b"id,text,gold\n1,hola,uno\n2,adios,\n"
    rows = read_inputs(data, "t.csv", prompt_column="text", reference_column="gold")
    assert [(r.line, r.messages[-1]["content"], r.reference) for r in rows] == [(2, "hola", "uno"), (3, "adios", None)]
    guessed = read_inputs(data, "t.csv")  # 'text' holds the inputs and 'gold' the answers, by their names
    assert [(r.messages[-1]["content"], r.reference) for r in guessed] == [("hola", "uno"), ("adios", None)]
    unscored = read_inputs(data, "t.csv", prompt_column="text", reference_column="")
    assert [r.reference for r in unscored] == [None, None]


def test_column_guesses_and_a_numeric_input_column_is_noticed():
    assert guess_columns(["id", "text", "gold"]) == ("text", "gold")
    assert guess_columns(["id", "question", "answer"]) == ("question", "answer")
    assert guess_columns(["a", "b"]) == (None, None)
    ids = read_inputs(b"id,text\n1,hola\n2,adios\n", "t.csv", prompt_column="id")
    assert numeric_inputs(ids) and not numeric_inputs(read_inputs(b"id,text\n1,hola\n", "t.csv"))


def test_a_parquet_file_reads_like_a_csv():
    buffer = io.BytesIO()
    pq.write_table(pa.table({"question": ["a", "b"], "answer": ["x", None]}), buffer)
    rows = read_inputs(buffer.getvalue(), "q.parquet")
    assert [(r.messages[-1]["content"], r.reference) for r in rows] == [("a", "x"), ("b", None)]


def test_a_csv_without_an_input_column_asks_which_one():
    with pytest.raises(InputError, match=r"t\.csv: which column holds the inputs\?.*'a', 'b'.*--column"):
        read_inputs(b"a,b\n1,2\n", "t.csv")


def test_a_bad_row_refuses_the_whole_file_naming_line_and_field():
    data = _jsonl({"instruction": "ok"}, {"instruction": 5}, {"instruction": ""}, {"instruction": "ok2"})
    with pytest.raises(InputError) as caught:
        read_inputs(data, "bad.jsonl")
    message = str(caught.value)
    assert "bad.jsonl: 2 rows cannot be read as inputs, so nothing was started" in message
    assert "bad.jsonl:2: instruction: must be a string, got int" in message
    assert "bad.jsonl:3: instruction: empty" in message


def test_more_than_five_problems_are_counted_not_listed():
    data = _jsonl(*[{"instruction": n} for n in range(8)])
    message = str(pytest.raises(InputError, read_inputs, data, "many.jsonl").value)
    assert message.count("must be a string") == 5 and "… and 3 more" in message


def test_a_preference_file_is_answered_and_scored_against_its_chosen_answers():
    [row] = read_inputs(_jsonl({"prompt": "p", "chosen": "a", "rejected": "b"}), "pairs.jsonl")
    assert row.messages == [{"role": "user", "content": "p"}] and row.reference == "a"


def test_the_training_importer_still_requires_the_answer():
    result = formats.parse(_jsonl({"instruction": "a"}), "a.jsonl")
    assert [str(p) for p in result.errors] == ["a.jsonl:1: output: missing field"]
    assert formats.NO_ANSWER not in json.dumps([row.data for row in result.rows])


def test_prompt_text_is_the_user_turn_or_the_whole_exchange():
    assert prompt_text([{"role": "system", "content": "S"}, {"role": "user", "content": "q"}]) == "q"
    multi = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ]
    assert prompt_text(multi) == "user: a\n\nassistant: b\n\nuser: c"
