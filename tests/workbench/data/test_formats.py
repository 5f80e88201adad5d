"""Reading, checking and writing dataset files: every format and kind of bad input, exact line and field."""

from __future__ import annotations

import copy
import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from workbench.data import formats
from workbench.data.formats import ColumnMapping, ExportError, FormatError, Problem

pytestmark = pytest.mark.no_demo_model


def jsonl(*rows: object) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


def lines_of(*lines: str) -> bytes:
    return "".join(line + "\n" for line in lines).encode("utf-8")


def problem_strings(result: formats.ImportResult) -> list[str]:
    return [str(p) for p in result.problems]


def user_assistant(user: str = "Hi", assistant: str = "Hello") -> list[dict]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


ALPACA = {"instruction": "Name a colour.", "input": "", "output": "Blue."}
CHAT = {"messages": user_assistant()}


# ----------------------------------------------------------------------------------------------- decode


def test_decode_plain_utf8_has_no_notes():
    assert formats.decode("café\n".encode(), "a.jsonl") == ("café\n", "utf-8", [])


def test_decode_removes_utf8_bom():
    text, encoding, notes = formats.decode(b"\xef\xbb\xbf{}\n", "a.jsonl")
    assert (text, encoding) == ("{}\n", "utf-8-sig")
    assert notes == ["UTF-8 byte order mark (BOM) removed"]


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_decode_utf16_with_bom(codec):
    bom = {"utf-16": b"", "utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}[codec]
    text, encoding, notes = formats.decode(bom + "café\n".encode(codec), "a.jsonl")
    assert (text, encoding) == ("café\n", "utf-16")
    assert notes == ["decoded as UTF-16 (byte order mark found and removed)"]


def test_decode_guesses_utf16_without_bom():
    text, encoding, notes = formats.decode('{"a": "b"}\n'.encode("utf-16-le"), "a.jsonl")
    assert (text, encoding) == ('{"a": "b"}\n', "utf-16-le")
    assert notes[0].startswith("decoded as UTF-16-LE")


def test_decode_falls_back_to_cp1252():
    text, encoding, notes = formats.decode(b"caf\xe9 \x93quoted\x94", "a.jsonl")
    assert (text, encoding) == ("café \u201cquoted\u201d", "cp1252")
    assert notes[0].startswith("decoded as cp1252: not valid UTF-8 (byte 0xe9 at offset 3)")


def test_decode_falls_back_to_latin1_when_not_cp1252():
    text, encoding, notes = formats.decode(b"caf\xe9\x81", "a.jsonl")  # 0x81 is undefined in cp1252
    assert (text, encoding) == ("caf\xe9\x81", "latin-1")
    assert notes[0].startswith("decoded as latin-1")


def test_decode_normalises_crlf_and_cr():
    crlf_note = "CRLF (Windows) line ends converted to LF"
    assert formats.decode(b"a\r\nb\r\n", "a.jsonl") == ("a\nb\n", "utf-8", [crlf_note])
    assert formats.decode(b"a\rb\r", "a.jsonl") == ("a\nb\n", "utf-8", ["CR line ends converted to LF"])


# ----------------------------------------------------------------------------------------- detect_format


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (ALPACA, "alpaca"),
        ({"instruction": "x"}, "alpaca"),
        (CHAT, "chat"),
        ({"conversations": [{"from": "human", "value": "Hi"}]}, "sharegpt"),
        ({"prompt": "Hi", "completion": "Hello"}, "completion"),
        ({"prompt": user_assistant()[:1], "completion": user_assistant()[1:]}, "completion"),
    ],
)
def test_detect_format_by_keys(row, expected):
    assert formats.detect_format(jsonl(row), "data.jsonl") == expected
    assert formats.detect_format(json.dumps([row], indent=2).encode(), "data.json") == expected


def test_detect_format_skips_unparseable_first_lines():
    assert formats.detect_format(b"not json\n" + jsonl(CHAT), "data.jsonl") == "chat"


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        ("data.csv", "csv"),
        ("DATA.TSV", "csv"),
        ("data.parquet", "parquet"),
    ],
)
def test_detect_format_by_extension(file, expected):
    assert formats.detect_format(jsonl(ALPACA), file) == expected


def test_detect_format_parquet_by_magic_bytes():
    assert formats.detect_format(b"PAR1\x00\x00", "upload.bin") == "parquet"


def test_detect_format_delimited_text_without_extension_is_csv():
    assert formats.detect_format(b"question\tanswer\nhi\thello\n", "data.txt") == "csv"


def test_detect_format_unknown_keys_names_them():
    message = r"Cannot tell the format of data.jsonl: its first record has 'text'\. Expected 'instruction'"
    with pytest.raises(FormatError, match=message):
        formats.detect_format(jsonl({"text": "hello"}), "data.jsonl")


def test_detect_format_empty_file():
    with pytest.raises(FormatError, match="data.jsonl is empty"):
        formats.detect_format(b"\n\n", "data.jsonl")


def test_detect_format_no_json_object():
    with pytest.raises(FormatError, match=r"no JSON object found \(line 1: not valid JSON"):
        formats.detect_format(b"{nope\n", "data.jsonl")


# ------------------------------------------------------------------------------------------- alpaca JSONL


def test_alpaca_jsonl_good_rows():
    data = jsonl(ALPACA, {"instruction": "Add.", "input": "2+2", "output": "4", "system": "Be brief."})
    result = formats.parse(data, "data.jsonl")
    assert (result.file, result.source_format, result.stored_format, result.encoding) == (
        "data.jsonl",
        "alpaca",
        "alpaca",
        "utf-8",
    )
    assert [row.line for row in result.rows] == [1, 2]
    assert result.good_rows == [ALPACA, {"instruction": "Add.", "input": "2+2", "output": "4", "system": "Be brief."}]
    assert result.problems == [] and result.bad_rows == [] and result.notes == []
    assert result.rows[0].raw == json.dumps(ALPACA)


def test_alpaca_missing_input_is_filled_and_null_optional_fields_accepted():
    data = jsonl(
        {"instruction": "a", "output": "b"}, {"instruction": "c", "input": None, "output": "d", "system": None}
    )
    result = formats.parse(data, "d.jsonl")
    assert result.problems == []
    assert result.good_rows == [
        {"instruction": "a", "input": "", "output": "b"},
        {"instruction": "c", "input": "", "output": "d"},
    ]


def test_alpaca_missing_and_empty_fields_exact_lines():
    data = jsonl(
        ALPACA, {"instruction": "a"}, {"instruction": "a", "output": "  \n"}, {"instruction": "", "output": "b"}
    )
    result = formats.parse(data, "data.jsonl")
    assert problem_strings(result) == [
        "data.jsonl:2: output: missing field",
        "data.jsonl:3: output: empty",
        "data.jsonl:4: instruction: empty",
    ]
    assert all(p.severity == "error" for p in result.problems)
    assert result.good_rows == [ALPACA]
    assert [row.line for row in result.bad_rows] == [2, 3, 4]
    assert result.bad_rows[0].data == {"instruction": "a"}  # kept as read, so the user can fix it


def test_alpaca_numbers_are_not_converted():
    data = jsonl({"instruction": "Count.", "input": 3, "output": 4}, {"instruction": ["a"], "output": True})
    result = formats.parse(data, "data.jsonl")
    assert problem_strings(result) == [
        "data.jsonl:1: input: must be a string, got int",
        "data.jsonl:1: output: must be a string, got int",
        "data.jsonl:2: instruction: must be a string, got list",
        "data.jsonl:2: output: must be a string, got bool",
    ]
    assert result.good_rows == []
    assert result.rows[0].data["output"] == 4


def test_alpaca_unknown_keys_are_warnings_and_dropped():
    result = formats.parse(jsonl({**ALPACA, "id": 7, "source": "web"}), "data.jsonl")
    assert result.problems == [
        Problem(
            "data.jsonl",
            1,
            "id",
            "unknown key 'id' (ignored; known keys: instruction, input, output, system)",
            "warning",
        ),
        Problem(
            "data.jsonl",
            1,
            "source",
            "unknown key 'source' (ignored; known keys: instruction, input, output, system)",
            "warning",
        ),
    ]
    assert result.errors == [] and len(result.warnings) == 2
    assert result.good_rows == [ALPACA]


def test_bad_json_mid_file_is_reported_and_later_lines_still_parsed():
    data = (
        jsonl(ALPACA)
        + b'{"instruction": "a", "output": }\n'
        + b"{'single': 'quotes'}\n"
        + jsonl({"instruction": "x", "input": "", "output": "y"})
    )
    result = formats.parse(data, "data.jsonl")
    assert [(p.line, p.field, p.severity) for p in result.problems] == [(2, "json", "error"), (3, "json", "error")]
    assert result.problems[0].problem.startswith("not valid JSON: Expecting value (column 32)")
    assert result.rows[1].raw == '{"instruction": "a", "output": }'
    assert result.rows[1].data is None
    assert result.good_rows == [ALPACA, {"instruction": "x", "input": "", "output": "y"}]
    assert [row.line for row in result.rows] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("line", "kind"), [("[1, 2]", "a list"), ('"text"', "a string"), ("42", "an int"), ("null", "null")]
)
def test_non_object_row(line, kind):
    result = formats.parse(jsonl(ALPACA) + lines_of(line), "data.jsonl", "alpaca")
    assert problem_strings(result) == [f"data.jsonl:2: row: expected a JSON object, got {kind}"]
    assert result.rows[1].data is None and result.rows[1].raw == line


def test_blank_lines_are_skipped_and_counted():
    data = lines_of("", json.dumps(ALPACA), "   ", "", json.dumps({"instruction": "a", "output": ""}))
    result = formats.parse(data, "data.jsonl")
    assert result.notes == ["3 blank lines skipped"]
    assert [row.line for row in result.rows] == [2, 5]
    assert problem_strings(result) == ["data.jsonl:5: output: empty"]


def test_crlf_line_ends():
    data = jsonl(ALPACA, {"instruction": "a", "output": ""}).replace(b"\n", b"\r\n")
    result = formats.parse(data, "data.jsonl")
    assert result.notes == ["CRLF (Windows) line ends converted to LF"]
    assert result.rows[0].raw == json.dumps(ALPACA)
    assert problem_strings(result) == ["data.jsonl:2: output: empty"]


def test_utf8_bom_is_not_part_of_the_first_key():
    result = formats.parse(b"\xef\xbb\xbf" + jsonl(ALPACA), "data.jsonl")
    assert result.encoding == "utf-8-sig"
    assert result.good_rows == [ALPACA] and result.problems == []
    assert "UTF-8 byte order mark (BOM) removed" in result.notes


def test_utf16_file_with_bom():
    row = {"instruction": "Traduis « café ».", "input": "", "output": "コーヒー"}
    result = formats.parse(jsonl(row).decode().encode("utf-16"), "data.jsonl")
    assert (result.encoding, result.source_format) == ("utf-16", "alpaca")
    assert result.good_rows == [row]


def test_cp1252_file():
    result = formats.parse(b'{"instruction": "caf\xe9?", "output": "Oui."}\n', "data.jsonl")
    assert result.encoding == "cp1252"
    assert result.good_rows == [{"instruction": "café?", "input": "", "output": "Oui."}]
    assert result.notes[0].startswith("decoded as cp1252: not valid UTF-8")


def test_replacement_character_is_a_warning():
    result = formats.parse(jsonl({"instruction": "caf\ufffd", "output": "x"}), "data.jsonl")
    assert [(p.line, p.field, p.severity) for p in result.problems] == [(1, "encoding", "warning")]
    assert len(result.good_rows) == 1


def test_duplicates_warn_on_the_later_row_and_stay_good():
    data = jsonl(ALPACA, {"instruction": "other", "output": "x"}, ALPACA, {**ALPACA, "id": 3})
    result = formats.parse(data, "data.jsonl")
    duplicates = [str(p) for p in result.warnings if p.field == "row"]
    assert duplicates == ["data.jsonl:3: row: duplicate of line 1", "data.jsonl:4: row: duplicate of line 1"]
    assert len(result.good_rows) == 4 and result.errors == []


def test_problems_are_in_line_order():
    data = jsonl({"instruction": "a", "output": "", "zz": 1}, ALPACA, {"output": "b"})
    result = formats.parse(data, "data.jsonl")
    assert [p.line for p in result.problems] == [1, 1, 3]
    assert [p.field for p in result.errors] == ["output", "instruction"]
    assert [p.field for p in result.warnings] == ["zz"]


def test_parse_does_not_mutate_its_input():
    data = jsonl(ALPACA, {**ALPACA, "id": 1})
    before = bytes(data)
    formats.parse(data, "data.jsonl")
    assert data == before


# -------------------------------------------------------------------------------------------- JSON arrays


def test_json_array_element_lines():
    rows = [ALPACA, {"instruction": "a", "input": "", "output": ""}, {"instruction": "b", "input": "", "output": "c"}]
    text = json.dumps(rows, indent=2)
    result = formats.parse(text.encode(), "data.json")
    expected_lines = [i + 1 for i, line in enumerate(text.split("\n")) if line == "  {"]
    assert [row.line for row in result.rows] == expected_lines == [2, 7, 12]
    assert problem_strings(result) == ["data.json:7: output: empty"]
    assert json.loads(result.rows[0].raw) == ALPACA
    assert result.good_rows == [rows[0], rows[2]]


def test_json_array_bad_element_stops_gracefully():
    bad = '{"instruction": "a", "output": nope},'
    text = "[\n" + json.dumps(ALPACA) + ",\n" + bad + "\n" + json.dumps(ALPACA) + "\n]\n"
    result = formats.parse(text.encode(), "data.json")
    assert [row.line for row in result.rows] == [2, 3]
    assert (result.problems[0].line, result.problems[0].field) == (3, "json")
    assert "the rest of the file was not read" in result.problems[0].problem
    assert result.rows[1].raw == '{"instruction": "a", "output": nope},'
    assert result.good_rows == [ALPACA]


def test_json_array_non_object_element_and_missing_comma():
    text = '[\n"just text",\n' + json.dumps(ALPACA) + "\n" + json.dumps(ALPACA) + "\n]"
    result = formats.parse(text.encode(), "data.json", "alpaca")
    assert [(p.line, p.field) for p in result.problems] == [(2, "row"), (4, "json")]
    assert result.problems[0].problem == "expected a JSON object, got a string"
    assert result.problems[1].problem.startswith(
        "not valid JSON: expected ',' or ']' after the element that starts on line 3"
    )


def test_json_array_trailing_comma_unclosed_and_trailing_text():
    trailing = formats.parse(("[" + json.dumps(ALPACA) + ",\n]").encode(), "a.json")
    assert trailing.good_rows == [ALPACA]
    assert trailing.notes == ["trailing comma before the closing ']' ignored"]
    unclosed = formats.parse(("[" + json.dumps(ALPACA) + ",\n").encode(), "a.json")
    assert unclosed.good_rows == [ALPACA] and "no closing ']'" in unclosed.notes[0]
    extra = formats.parse(("[" + json.dumps(ALPACA) + "]\noops").encode(), "a.json")
    assert [(p.line, p.field) for p in extra.problems] == [(2, "json")]


def test_multi_line_objects_one_after_another():
    second = {"instruction": "a", "output": ""}
    text = json.dumps(ALPACA, indent=2) + "\n" + json.dumps(second, indent=2) + "\n"
    result = formats.parse(text.encode(), "data.jsonl")
    assert [row.line for row in result.rows] == [1, 6]
    assert problem_strings(result) == ["data.jsonl:6: output: empty"]
    assert result.notes == ["read as multi-line JSON objects one after another (not one object per line)"]


# ---------------------------------------------------------------------------------------------------- chat


def test_chat_good_rows_and_system_message():
    system = {"role": "system", "content": "Be brief."}
    row = {"messages": [system, *user_assistant(), *user_assistant("Bye", "Ciao")]}
    result = formats.parse(jsonl(CHAT, row), "chat.jsonl")
    assert (result.source_format, result.stored_format) == ("chat", "chat")
    assert result.good_rows == [CHAT, row] and result.problems == []


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        (
            [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
            "messages[1].role: expected 'assistant' after 'user', got 'user'",
        ),
        (
            [{"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}],
            "messages[0].role: expected 'user' first (after an optional system message), got 'assistant'",
        ),
        (
            [{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}],
            "messages[1].role: expected 'user' after 'system', got 'assistant'",
        ),
        (
            [*user_assistant(), {"role": "system", "content": "s"}],
            "messages[2].role: a system message can only be the first message; merge it into the first one",
        ),
        (
            [*user_assistant(), {"role": "user", "content": "more?"}],
            "messages[2].role: the last message must be the 'assistant' reply to learn, got 'user'; "
            "add the reply or remove this message",
        ),
        (
            [{"role": "user", "content": "a"}, {"role": "bot", "content": "b"}],
            "messages[1].role: unknown role 'bot'; use system, user or assistant",
        ),
        ([{"content": "a"}, {"role": "assistant", "content": "b"}], "messages[0].role: missing field"),
        (
            [{"role": 1, "content": "a"}, {"role": "assistant", "content": "b"}],
            "messages[0].role: must be a string, got int",
        ),
        (
            [{"role": "user", "content": [{"type": "text", "text": "a"}]}, {"role": "assistant", "content": "b"}],
            "messages[0].content: must be a string, got list",
        ),
        ([{"role": "user", "content": " "}, {"role": "assistant", "content": "b"}], "messages[0].content: empty"),
        ([{"role": "user"}, {"role": "assistant", "content": "b"}], "messages[0].content: missing field"),
        (
            ["hi", {"role": "assistant", "content": "b"}],
            "messages[0]: expected a JSON object with role and content, got a string",
        ),
    ],
)
def test_chat_bad_messages(messages, expected):
    data = jsonl(CHAT, {"messages": messages})
    result = formats.parse(data, "chat.jsonl")
    assert problem_strings(result) == [f"chat.jsonl:2: {expected}"]
    assert result.good_rows == [CHAT]
    assert result.bad_rows[0].data == {"messages": messages}


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"text": "hi"}, "messages: missing field"),
        ({"messages": "hi"}, "messages: must be a list of messages, got a string"),
        ({"messages": []}, "messages: empty: a conversation needs a user message and an assistant reply"),
    ],
)
def test_chat_bad_messages_field(row, expected):
    result = formats.parse(jsonl(CHAT, row), "chat.jsonl", "chat")
    assert [str(p) for p in result.errors] == [f"chat.jsonl:2: {expected}"]


def test_chat_unknown_keys_are_warnings_and_dropped():
    row = {
        "id": "x1",
        "messages": [
            {"role": "user", "content": "Hi", "name": "ann"},
            {"role": "assistant", "content": "Hello", "weight": 1},
        ],
    }
    result = formats.parse(jsonl(row), "chat.jsonl")
    assert [(p.field, p.severity) for p in result.problems] == [
        ("messages[0].name", "warning"),
        ("messages[1].weight", "warning"),
        ("id", "warning"),
    ]
    assert result.problems[0].problem == "unknown key 'name' (ignored; known keys: role, content)"
    assert result.good_rows == [CHAT]


# ------------------------------------------------------------------------------------------------ sharegpt


def sharegpt(*turns: tuple[str, object], **extra: object) -> dict:
    return {"conversations": [{"from": speaker, "value": value} for speaker, value in turns], **extra}


def test_sharegpt_converts_to_chat():
    rows = [
        sharegpt(("system", "S"), ("human", "Hi"), ("gpt", "Hello")),
        sharegpt(("user", "Hi"), ("model", "Hello"), ("Human", "Bye"), ("assistant", "Ciao")),
        sharegpt(("human", "Hi"), ("gpt", "Hello"), system="Top-level system"),
    ]
    result = formats.parse(jsonl(*rows), "share.jsonl")
    assert (result.source_format, result.stored_format) == ("sharegpt", "chat")
    assert result.problems == []
    assert result.good_rows == [
        {"messages": [{"role": "system", "content": "S"}, *user_assistant()]},
        {"messages": [*user_assistant(), *user_assistant("Bye", "Ciao")]},
        {"messages": [{"role": "system", "content": "Top-level system"}, *user_assistant()]},
    ]


def test_sharegpt_accepts_role_and_content_spelling():
    row = {"conversations": user_assistant()}
    assert formats.parse(jsonl(row), "share.jsonl", "sharegpt").good_rows == [CHAT]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            sharegpt(("human", "Hi"), ("bot", "Hello")),
            "conversations[1].from: unknown speaker 'bot'; use human, gpt or system (user, assistant and model are "
            "accepted too)",
        ),
        (sharegpt(("human", "Hi"), ("gpt", "")), "conversations[1].value: empty"),
        (sharegpt(("human", "Hi"), ("gpt", 5)), "conversations[1].value: must be a string, got int"),
        (
            sharegpt(("human", "Hi"), ("human", "Hello")),
            "conversations[1].from: expected 'assistant' after 'user', got 'user'",
        ),
        (
            sharegpt(("gpt", "Hello"), ("human", "Hi"), ("gpt", "Ok"), system="S"),
            "conversations[0].from: expected 'user' after 'system', got 'assistant'",
        ),
        (
            {"conversations": [{"value": "Hi"}, {"from": "gpt", "value": "Hello"}]},
            "conversations[0].from: missing field",
        ),
        (
            {"conversations": "Hi"},
            'conversations: must be a list of turns like {"from": "human", "value": "..."}, got a string',
        ),
        ({"messages_": []}, "conversations: missing field"),
        (sharegpt(("human", "Hi"), ("gpt", "Hello"), system=3), "system: must be a string, got int"),
    ],
)
def test_sharegpt_problems_name_the_source_field(row, expected):
    result = formats.parse(jsonl(row), "share.jsonl", "sharegpt")
    assert [str(p) for p in result.errors] == [f"share.jsonl:1: {expected}"]


def test_sharegpt_unknown_keys_are_warnings():
    turns = [{"from": "human", "value": "Hi", "weight": 0}, {"from": "gpt", "value": "Hello"}]
    row = {"id": 1, "conversations": turns}
    result = formats.parse(jsonl(row), "share.jsonl")
    assert [(p.field, p.severity) for p in result.problems] == [
        ("id", "warning"),
        ("conversations[0].weight", "warning"),
    ]
    assert result.problems[0].problem == "unknown key 'id' (ignored; known keys: conversations, system)"
    assert result.good_rows == [CHAT]


# ---------------------------------------------------------------------------------------------- completion


def test_completion_strings_become_alpaca():
    result = formats.parse(jsonl({"prompt": "2+2?", "completion": "4"}), "comp.jsonl")
    assert (result.source_format, result.stored_format) == ("completion", "alpaca")
    assert result.good_rows == [{"instruction": "2+2?", "input": "", "output": "4"}]


def test_completion_problems_name_prompt_and_completion():
    data = jsonl(
        {"prompt": "a", "completion": " "},
        {"prompt": 1, "completion": "b"},
        {"prompt": "a"},
        {"prompt": "a", "completion": "b", "label": True},
        {"prompt": "a", "completion": ["b"]},
    )
    result = formats.parse(data, "comp.jsonl", "completion")
    assert problem_strings(result) == [
        "comp.jsonl:1: completion: empty",
        "comp.jsonl:2: prompt: must be a string, got int",
        "comp.jsonl:3: completion: missing field",
        "comp.jsonl:4: label: unknown key 'label' (ignored; known keys: prompt, completion)",
        "comp.jsonl:5: completion: must be a string like the other rows of this file "
        "(plain prompt/completion strings and message lists cannot be mixed in one file)",
    ]
    assert result.good_rows == [{"instruction": "a", "input": "", "output": "b"}]


def test_conversational_completion_becomes_chat():
    system = {"role": "system", "content": "S"}
    row = {"prompt": [system, user_assistant()[0]], "completion": [user_assistant()[1]]}
    result = formats.parse(jsonl(row), "comp.jsonl")
    assert (result.source_format, result.stored_format) == ("completion", "chat")
    assert result.good_rows == [{"messages": [system, *user_assistant()]}]


def test_conversational_completion_problems_name_prompt_and_completion():
    good = {"prompt": user_assistant()[:1], "completion": user_assistant()[1:]}
    empty = {"prompt": [{"role": "user", "content": ""}], "completion": [{"role": "assistant", "content": ""}]}
    wrong_role = {"prompt": [{"role": "user", "content": "a"}], "completion": [{"role": "user", "content": "b"}]}
    data = jsonl(good, empty, wrong_role, {"prompt": "plain", "completion": user_assistant()[1:]})
    result = formats.parse(data, "comp.jsonl")
    assert problem_strings(result) == [
        "comp.jsonl:2: prompt[0].content: empty",
        "comp.jsonl:2: completion[0].content: empty",
        "comp.jsonl:3: completion[0].role: expected 'assistant' after 'user', got 'user'",
        "comp.jsonl:4: prompt: must be a list of messages like the other rows of this file, got a string",
    ]
    assert result.good_rows == [CHAT]


# ---------------------------------------------------------------------------------------------- csv / tsv


CSV = (
    b"question,context,answer\r\n"
    b'"What is 2+2?",,4\r\n'
    b'"Write a poem,\r\nplease","about ""cats""","Soft paws,\r\nquiet nights."\r\n'
    b"\r\n"
    b"Empty answer,,\r\n"
)


def test_csv_with_quoted_multi_line_cells():
    result = formats.parse(CSV, "data.csv")
    assert (result.source_format, result.stored_format, result.encoding) == ("csv", "alpaca", "utf-8")
    assert [row.line for row in result.rows] == [2, 3, 7]
    assert result.rows[1].raw == '"Write a poem,\nplease","about ""cats""","Soft paws,\nquiet nights."'
    assert result.good_rows == [
        {"instruction": "What is 2+2?", "input": "", "output": "4"},
        {"instruction": "Write a poem,\nplease", "input": 'about "cats"', "output": "Soft paws,\nquiet nights."},
    ]
    assert problem_strings(result) == ["data.csv:7: answer: empty"]  # the column the user knows
    assert result.notes == ["CRLF (Windows) line ends converted to LF", "1 blank line skipped"]


def test_csv_custom_mapping_and_system_column():
    data = b"q,sys,a,notes\nHi,Be kind,Hello,x\nBye,,Ciao,y\n"
    mapping = ColumnMapping(instruction="q", output="a", system="sys")
    result = formats.parse(data, "data.csv", "csv", mapping)
    assert result.good_rows == [
        {"instruction": "Hi", "input": "", "output": "Hello", "system": "Be kind"},
        {"instruction": "Bye", "input": "", "output": "Ciao"},
    ]
    assert mapping == ColumnMapping(instruction="q", output="a", system="sys")


def test_csv_missing_mapping_names_the_columns():
    with pytest.raises(
        FormatError,
        match=r"data.csv: no column is mapped to 'instruction'. The columns are: "
        r"'q', 'a'",
    ):
        formats.parse(b"q,a\nx,y\n", "data.csv")


def test_csv_mapped_column_must_exist():
    with pytest.raises(FormatError, match=r"column 'answer' \(mapped to 'output'\) is not in the file"):
        formats.parse(b"q,a\nx,y\n", "data.csv", "csv", ColumnMapping(instruction="q", output="answer"))


def test_csv_wrong_cell_count_is_a_row_error():
    data = b'prompt,response\nok,fine\n"unclosed,quote\nlast,row\n'
    result = formats.parse(data, "data.csv")
    assert [(p.line, p.field) for p in result.errors] == [(3, "row"), (3, "response")]
    assert result.errors[0].problem.startswith("has 1 cell but the header has 2 columns; check the quoting")
    assert result.good_rows == [{"instruction": "ok", "input": "", "output": "fine"}]


def test_csv_extra_empty_cells_are_fine():
    result = formats.parse(b"instruction,output\na,b,,\n", "data.csv")
    assert result.problems == [] and len(result.good_rows) == 1


@pytest.mark.parametrize(
    ("data", "file"),
    [
        (b"instruction\toutput\nSay hi, please\tHi, you\n", "data.tsv"),
        (b"instruction\toutput\nSay hi, please\tHi, you\n", "data.txt"),
    ],
)
def test_tsv(data, file):
    result = formats.parse(data, file, "csv")
    assert result.good_rows == [{"instruction": "Say hi, please", "input": "", "output": "Hi, you"}]
    assert result.notes == ["columns separated by tabs"]


def test_tabular_columns_and_guess_mapping_for_csv():
    columns = formats.tabular_columns(CSV, "data.csv")
    assert columns == ["question", "context", "answer"]
    expected = ColumnMapping(instruction="question", input="context", output="answer")
    assert formats.guess_mapping(columns) == expected


def test_guess_mapping_is_case_insensitive_and_prefers_earlier_names():
    columns = ["Question", "Prompt", "RESPONSE", "Completion", "System", "extra"]
    expected = ColumnMapping(instruction="Prompt", output="RESPONSE", system="System")
    assert formats.guess_mapping(columns) == expected
    assert formats.guess_mapping(["a", "b"]) == ColumnMapping()


def test_tabular_columns_empty_csv():
    with pytest.raises(FormatError, match="data.csv is empty"):
        formats.tabular_columns(b"\n", "data.csv")


# ------------------------------------------------------------------------------------------------- parquet


def parquet_bytes(tmp_path, columns: dict[str, list]) -> bytes:
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table(columns), path)
    return path.read_bytes()


def test_parquet(tmp_path):
    data = parquet_bytes(
        tmp_path,
        {
            "prompt": ["Hi", "Count", None],
            "answer": ["Hello", None, "x"],
            "score": [1.5, math.nan, None],
            "n": [1, 2, 3],
        },
    )
    assert formats.detect_format(data, "data.parquet") == "parquet"
    assert formats.tabular_columns(data, "data.parquet") == ["prompt", "answer", "score", "n"]
    result = formats.parse(data, "data.parquet")
    assert (result.source_format, result.stored_format) == ("parquet", "alpaca")
    assert result.notes == ["line numbers are row numbers"]
    assert [row.line for row in result.rows] == [1, 2, 3]
    assert problem_strings(result) == ["data.parquet:2: answer: empty", "data.parquet:3: prompt: empty"]
    assert result.good_rows == [{"instruction": "Hi", "input": "", "output": "Hello"}]
    assert json.loads(result.rows[0].raw) == {"prompt": "Hi", "answer": "Hello", "score": 1.5, "n": 1}


def test_parquet_mapping_with_numbers_and_nan(tmp_path):
    data = parquet_bytes(tmp_path, {"q": ["a", "b"], "a": [42, 7], "ctx": [math.nan, 1.5]})
    mapping = ColumnMapping(instruction="q", input="ctx", output="a")
    result = formats.parse(data, "upload.bin", "parquet", mapping)
    assert result.good_rows == [
        {"instruction": "a", "input": "", "output": "42"},
        {"instruction": "b", "input": "1.5", "output": "7"},
    ]


def test_damaged_parquet():
    with pytest.raises(FormatError, match="cannot read data.parquet as Parquet"):
        formats.parse(b"PAR1 not really", "data.parquet")


def test_parquet_bytes_with_a_json_format(tmp_path):
    data = parquet_bytes(tmp_path, {"instruction": ["a"], "output": ["b"]})
    with pytest.raises(FormatError, match="is a Parquet file"):
        formats.parse(data, "data.jsonl", "alpaca")


def test_parse_unknown_format():
    with pytest.raises(FormatError, match="Unknown format 'yaml'"):
        formats.parse(jsonl(ALPACA), "data.jsonl", "yaml")


# ------------------------------------------------------------------------------------------------ validate


def test_validate_row_alpaca_and_chat():
    assert formats.validate_row(ALPACA, "alpaca", "d.jsonl", 4) == []
    assert formats.validate_row(CHAT, "chat", "d.jsonl", 4) == []
    assert formats.validate_row({"instruction": "a", "output": 1}, "alpaca", "d.jsonl", 4) == [
        Problem("d.jsonl", 4, "output", "must be a string, got int")
    ]
    assert [str(p) for p in formats.validate_row([], "chat", "d.jsonl", 9)] == [
        "d.jsonl:9: row: expected a JSON object, got a list"
    ]


def test_validate_row_unknown_stored_format():
    with pytest.raises(FormatError, match="Unknown stored format 'sharegpt'"):
        formats.validate_row(ALPACA, "sharegpt", "d.jsonl", 1)


def test_validate_rows_with_duplicates_and_custom_lines():
    rows = [ALPACA, {"instruction": "a", "output": ""}, copy.deepcopy(ALPACA)]
    before = copy.deepcopy(rows)
    assert [str(p) for p in formats.validate_rows(rows, "alpaca", "d.jsonl")] == [
        "d.jsonl:2: output: empty",
        "d.jsonl:3: row: duplicate of line 1",
    ]
    problems = formats.validate_rows(rows, "alpaca", "d.jsonl", lines=[10, 20, 30])
    assert [(p.line, p.severity) for p in problems] == [(20, "error"), (30, "warning")]
    assert problems[1].problem == "duplicate of line 10"
    assert rows == before


def test_problem_str():
    assert str(Problem("a.jsonl", 3, "output", "empty")) == "a.jsonl:3: output: empty"
    assert Problem("a.jsonl", 3, "output", "empty").severity == "error"


# -------------------------------------------------------------------------------------------------- export


def test_alpaca_to_chat_to_alpaca_round_trip():
    rows = [ALPACA, {"instruction": "Hi", "input": "", "output": "Hello", "system": "Be brief."}]
    before = copy.deepcopy(rows)
    as_chat = formats.export_rows(rows, "alpaca", "chat")
    assert as_chat[1] == {"messages": [{"role": "system", "content": "Be brief."}, *user_assistant()]}
    assert formats.export_rows(as_chat, "chat", "alpaca") == rows
    assert rows == before


def test_alpaca_input_joins_the_user_turn():
    row = {"instruction": "Translate.", "input": "chat", "output": "cat"}
    assert formats.export_rows([row], "alpaca", "chat") == [
        {"messages": [{"role": "user", "content": "Translate.\n\nchat"}, {"role": "assistant", "content": "cat"}]}
    ]
    assert formats.export_rows([row], "alpaca", "completion") == [{"prompt": "Translate.\n\nchat", "completion": "cat"}]
    assert formats.export_rows([{**row, "id": 1}], "alpaca", "alpaca") == [row]


def test_export_sharegpt_round_trips_through_parse():
    system = {"role": "system", "content": "S"}
    rows = [{"messages": [system, *user_assistant(), *user_assistant("Bye", "Ciao")]}]
    exported = formats.export_rows(rows, "chat", "sharegpt")
    assert exported[0]["conversations"][:3] == [
        {"from": "system", "value": "S"},
        {"from": "human", "value": "Hi"},
        {"from": "gpt", "value": "Hello"},
    ]
    assert formats.parse(formats.dumps_jsonl(exported).encode(), "x.jsonl").good_rows == rows


def test_export_completion_round_trips_through_parse():
    exported = formats.export_rows([CHAT], "chat", "completion")
    assert exported == [{"prompt": "Hi", "completion": "Hello"}]
    assert formats.parse(formats.dumps_jsonl(exported).encode(), "x.jsonl").good_rows == [
        {"instruction": "Hi", "input": "", "output": "Hello"}
    ]


@pytest.mark.parametrize("target", ["alpaca", "completion"])
def test_multi_turn_chat_cannot_become_single_turn(target):
    rows = [CHAT, {"messages": [*user_assistant(), *user_assistant("Bye", "Ciao")]}]
    message = r"^support.jsonl: row 2 is a conversation of 4 messages \(2 user turns"
    with pytest.raises(ExportError, match=message):
        formats.export_rows(rows, "chat", target, file="support.jsonl")


def test_system_prompt_cannot_become_completion():
    with pytest.raises(ExportError, match=r"dataset: row 1 has a system prompt"):
        formats.export_rows([{**ALPACA, "system": "S"}], "alpaca", "completion")


def test_export_unknown_target_and_malformed_row():
    with pytest.raises(ExportError, match="Unknown export format 'xlsx'"):
        formats.export_rows([ALPACA], "alpaca", "xlsx")
    with pytest.raises(ExportError, match="row 2 has no valid 'messages' list"):
        formats.export_rows([CHAT, {"messages": "x"}], "chat", "chat")


def test_dumps_jsonl():
    text = formats.dumps_jsonl([{"a": "café"}, {"b": 1}])
    assert text == '{"a": "café"}\n{"b": 1}\n'
    assert formats.dumps_jsonl([]) == ""


LLAMA_FACTORY_PAIR = {
    "conversations": [{"from": "human", "value": "¿Dónde está mi pedido?"}],
    "chosen": {"from": "gpt", "value": "Lo comprobamos ahora mismo."},
    "rejected": {"from": "gpt", "value": "No lo sé."},
}


PROMPT = [{"role": "user", "content": "¿Dónde está mi pedido?"}]
STORED_PAIR = {"prompt": PROMPT, "chosen": "Lo comprobamos ahora mismo.", "rejected": "No lo sé."}
CHOSEN, REJECTED = STORED_PAIR["chosen"], STORED_PAIR["rejected"]


def _assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


@pytest.mark.parametrize(
    ("row", "fmt"),
    [
        (LLAMA_FACTORY_PAIR, "sharegpt-ranking"),  # read as ShareGPT before: 'conversations' is there too
        ({"messages": PROMPT, "chosen": _assistant(CHOSEN), "rejected": _assistant(REJECTED)}, "chat-ranking"),
        ({"prompt": PROMPT[0]["content"], "chosen": CHOSEN, "rejected": REJECTED}, "preference"),
        ({"prompt": PROMPT, "chosen": [_assistant(CHOSEN)], "rejected": [_assistant(REJECTED)]}, "preference"),
        ({"chosen": [*PROMPT, _assistant(CHOSEN)], "rejected": [*PROMPT, _assistant(REJECTED)]}, "preference-implicit"),
        (
            {
                "chosen": f"\n\nHuman: {PROMPT[0]['content']}\n\nAssistant: {CHOSEN}",
                "rejected": f"\n\nHuman: {PROMPT[0]['content']}\n\nAssistant: {REJECTED}",
            },
            "preference-implicit",
        ),
    ],
)
def test_every_preference_shape_reads_as_the_same_stored_pair(row, fmt):
    data = json.dumps(row, ensure_ascii=False).encode()
    assert formats.detect_format(data, "pairs.jsonl") == fmt
    result = formats.parse(data, "pairs.jsonl")
    assert result.stored_format == "preference" and not result.problems
    assert result.good_rows == [STORED_PAIR]


@pytest.mark.parametrize(
    "row",
    [
        {"prompt": PROMPT[0]["content"], "completion": "Lo comprobamos.", "label": True},
        {"prompt": PROMPT, "completion": [_assistant("Lo comprobamos.")], "label": True},
        {"messages": [*PROMPT, _assistant("Lo comprobamos.")], "label": True},
    ],
)
def test_every_feedback_shape_reads_as_the_same_stored_row(row):
    result = formats.parse(json.dumps(row, ensure_ascii=False).encode(), "kto.jsonl")
    assert result.stored_format == "feedback" and not result.problems
    assert result.good_rows == [{"prompt": PROMPT, "completion": "Lo comprobamos.", "label": True}]


TURN_THEN_ANSWER = [{"role": "user", "content": "q"}, _assistant("x")]


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ({"prompt": "q", "chosen": "same", "rejected": "same"}, "1: rejected: the same answer as chosen"),
        ({"prompt": "q", "chosen": "", "rejected": "b"}, "1: chosen: empty"),
        ({"prompt": "q", "chosen": "a"}, "1: rejected: missing field"),
        (
            {"prompt": TURN_THEN_ANSWER, "chosen": "a", "rejected": "b"},
            "1: prompt[1].role: the prompt's last turn must be the user's",
        ),
        (
            {"prompt": "q", "completion": "a", "label": "spam"},
            "1: label: must be true or false (is the answer good?), got 'spam'",
        ),
        (
            {"chosen": [*PROMPT, _assistant("a")], "rejected": [{"role": "user", "content": "z"}, _assistant("b")]},
            "1: chosen: the chosen and rejected conversations share no prompt",
        ),
        (
            {
                "conversations": [{"from": "human", "value": "q"}],
                "chosen": {"from": "gpt", "value": ""},
                "rejected": {"from": "gpt", "value": "b"},
            },
            "1: chosen.value: empty",
        ),
        (
            {"messages": PROMPT, "label": True},
            "1: messages[0]: the last message must be the assistant's answer that the label judges",
        ),
    ],
)
def test_bad_preference_and_feedback_rows_are_named_at_their_line_and_field(row, problem):
    result = formats.parse(json.dumps(row).encode(), "bad.jsonl")
    assert any(str(p).startswith(f"bad.jsonl:{problem}") for p in result.errors), [str(p) for p in result.errors]
    assert result.good_rows == []


def test_answers_differing_only_in_whitespace_are_a_warning():
    result = formats.parse(json.dumps({"prompt": "q", "chosen": "a  b", "rejected": "a b"}).encode(), "w.jsonl")
    assert not result.errors and [str(p) for p in result.warnings] == [
        "w.jsonl:1: rejected: differs from chosen only in whitespace: little to learn from"
    ]


def test_pairs_export_to_trl_shape_and_csv_and_read_back():
    trl = formats.export_rows([STORED_PAIR], "preference", "preference")
    assert trl == [{"prompt": PROMPT, "chosen": [_assistant(CHOSEN)], "rejected": [_assistant(REJECTED)]}]
    assert formats.parse(formats.dumps_export(trl, "preference").encode(), "back.jsonl").good_rows == [STORED_PAIR]
    text = formats.dumps_export(formats.export_rows([STORED_PAIR], "preference", "csv"), "csv")
    assert text.splitlines() == ["prompt,chosen,rejected", f"{PROMPT[0]['content']},{CHOSEN},{REJECTED}"]
    with pytest.raises(ExportError, match="holds preference rows, which export as preference or csv, not chat"):
        formats.export_rows([STORED_PAIR], "preference", "chat")
    assert formats.export_targets("preference") == ("preference", "csv")
    assert formats.export_targets("alpaca")[0] == "alpaca"


def test_a_csv_or_parquet_with_chosen_and_rejected_columns_reads_as_pairs():
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    result = formats.parse(b"question,chosen,rejected\nq1,a,b\nq2,same,same\n", "p.csv")
    assert result.stored_format == "preference"
    assert result.good_rows == [{"prompt": [{"role": "user", "content": "q1"}], "chosen": "a", "rejected": "b"}]
    assert [str(p) for p in result.errors] == [
        "p.csv:3: rejected: the same answer as chosen: a pair teaches only where they differ"
    ]
    mapped = formats.parse(
        b"q,good,bad\nq1,a,b\n", "m.csv", mapping=ColumnMapping(instruction="q", chosen="good", rejected="bad")
    )
    assert mapped.good_rows == [{"prompt": [{"role": "user", "content": "q1"}], "chosen": "a", "rejected": "b"}]
    with pytest.raises(FormatError, match="no column is mapped to 'rejected'.*the worse answer"):
        formats.parse(b"q,good\nq1,a\n", "m.csv", mapping=ColumnMapping(instruction="q", chosen="good"))
    buffer = io.BytesIO()
    pq.write_table(pa.table({"prompt": ["q1"], "chosen": ["a"], "rejected": [""]}), buffer)
    parquet = formats.parse(buffer.getvalue(), "p.parquet")
    assert parquet.stored_format == "preference" and [str(p) for p in parquet.errors] == [
        "p.parquet:1: rejected: empty"
    ]
