"""A corpus of hostile dataset files: `python tests/reliability/hostile_corpus.py DIR` writes it to DIR.

Each case is a file a user (or a tool they used) could plausibly hand the importer, and what must happen:
"refused" (nothing imported, a reason naming the file, and the line and field where there is one) or
"imported" (a file that is odd but readable: read correctly, with a note where something was done).
The 2 GB file is sparse: it takes no disk space, and the importer must refuse it without reading it.
"""

from __future__ import annotations

import gzip
import io
import json
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ALPACA = {"instruction": "¿Qué hora es?", "input": "", "output": "Son las tres."}
CHAT = {"messages": [{"role": "user", "content": "Hola"}, {"role": "assistant", "content": "¡Hola!"}]}
GOOD = json.dumps(ALPACA, ensure_ascii=False)
GOOD_CHAT = json.dumps(CHAT, ensure_ascii=False)


@dataclass(frozen=True)
class Case:
    name: str  # the file name written (its extension is part of the case)
    outcome: str  # "refused" or "imported"
    make: Callable[[Path], None]
    says: str = ""  # a phrase the reason must contain (lowercase match)
    line: int | None = None  # the line the reason must name, where one is at fault


def _bytes(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def _text(text: str, encoding: str = "utf-8") -> Callable[[Path], None]:
    return _bytes(text.encode(encoding))


def _lines(*rows: object) -> Callable[[Path], None]:
    return _text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows))


def _sparse(size: int) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        with path.open("wb") as handle:
            handle.truncate(size)

    return make


def _zip(path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.jsonl", GOOD + "\n")
    path.write_bytes(buffer.getvalue())


def _parquet(schema: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = (
            pa.table({"id": [1, 2], "score": [0.5, 0.7]})
            if schema == "wrong"
            else pa.table({"instruction": ["q"], "output": ["a"]})
        )
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        data = buffer.getvalue()
        path.write_bytes(data if schema == "wrong" else data[:-12] + b"\0" * 8 + data[-4:])

    return make


def _wide_csv(columns: int) -> Callable[[Path], None]:
    header = ",".join(f"c{i}" for i in range(columns))
    return _text(header + "\n" + ",".join("x" for _ in range(columns)) + "\n")


def _nested(depth: int) -> str:
    return '{"instruction": ' + "[" * depth + "]" * depth + ', "output": "a"}'


CASES: list[Case] = [
    # --- broken JSON ---------------------------------------------------------------------------------
    Case("truncated-array.json", "refused", _text('[{"instruction": "a", "output": "b"}, {"instruc'), line=1),
    Case("truncated-last-line.jsonl", "refused", _text(GOOD + "\n" + GOOD[:20]), line=2),
    Case("trailing-comma-object.jsonl", "refused", _lines('{"instruction": "a", "output": "b",}'), line=1),
    Case("trailing-comma-array.json", "imported", _text('[\n{"instruction": "a", "output": "b"},\n]\n')),
    Case("comments.jsonl", "refused", _lines("// exported by a tool", GOOD), line=1),
    Case("single-quotes.jsonl", "refused", _lines("{'instruction': 'a', 'output': 'b'}"), line=1),
    Case("garbage-after-array.json", "refused", _text(f"[{GOOD}]\nthis is not json\n"), line=2),
    Case("unclosed-string.jsonl", "refused", _lines(GOOD, '{"instruction": "a, "output": "b"}'), line=2),
    Case("nested-10000-deep.jsonl", "refused", _lines(_nested(10_000)), says="nested", line=1),
    Case("nested-100-deep-value.jsonl", "refused", _lines(_nested(100)), says="instruction", line=1),
    Case("top-level-number.json", "refused", _text("42\n")),
    Case("top-level-string.json", "refused", _text('"just text"\n')),
    Case("line-is-array.jsonl", "refused", _lines(GOOD, ["a", "b"]), line=2),
    Case("line-is-null.jsonl", "refused", _lines(GOOD, "null"), line=2),
    Case("empty-object.jsonl", "refused", _lines(GOOD, {}), line=2),
    Case(
        "duplicate-keys.jsonl",
        "refused",
        _lines('{"instruction": "a", "instruction": "b", "output": "c"}'),
        says="instruction",
        line=1,
    ),
    Case(
        "lone-surrogate.jsonl",
        "refused",
        _lines('{"instruction": "a\\ud800b", "output": "c"}'),
        says="instruction",
        line=1,
    ),
    # --- encodings and bytes ---------------------------------------------------------------------------
    Case("bom-utf8.jsonl", "imported", _bytes(b"\xef\xbb\xbf" + (GOOD + "\n").encode())),
    Case("bom-utf16le.jsonl", "imported", _bytes(b"\xff\xfe" + (GOOD + "\n").encode("utf-16-le"))),
    Case("bom-utf16be.jsonl", "imported", _bytes(b"\xfe\xff" + (GOOD + "\n").encode("utf-16-be"))),
    Case("utf32.jsonl", "imported", _bytes((GOOD + "\n").encode("utf-32"))),
    Case("crlf.jsonl", "imported", _text(GOOD + "\r\n" + GOOD.replace("tres", "dos") + "\r\n")),
    Case("mixed-line-ends.jsonl", "imported", _text(GOOD + "\r\n" + GOOD.replace("tres", "dos") + "\n")),
    Case("old-mac-cr.jsonl", "imported", _text(GOOD + "\r" + GOOD.replace("tres", "dos") + "\r")),
    Case("latin1.jsonl", "imported", _text(GOOD + "\n", "latin-1")),
    Case("cp1252-quotes.jsonl", "imported", _text('{"instruction": "“Hi”", "input": "", "output": "ok…"}\n', "cp1252")),
    Case(
        "mixed-utf8-latin1.jsonl",
        "refused",
        _bytes((GOOD + "\n").encode() + (GOOD.replace("tres", "dos") + "\n").encode("latin-1")),
        says="encoding",
        line=2,
    ),
    Case(
        "invalid-utf8-bytes.jsonl",
        "refused",
        _bytes((GOOD + "\n").encode() + b'{"instruction": "\xc3\x28"}\n'),
        says="encoding",
        line=2,
    ),
    Case(
        "nul-bytes.jsonl",
        "refused",
        _bytes((GOOD + "\n").encode() + b'{"instruction": "a\x00b", "output": "c"}\n'),
        line=2,
    ),
    Case("all-nul.jsonl", "refused", _bytes(b"\x00" * 4096)),
    Case("bom-in-the-middle.jsonl", "refused", _text(GOOD + "\n\ufeff" + GOOD + "\n"), line=2),
    Case("control-characters.jsonl", "refused", _bytes(b'{"instruction": "a\x07\x1b[31m", "output": "b"}\n'), line=1),
    # --- sizes -------------------------------------------------------------------------------------------
    Case("empty.jsonl", "refused", _bytes(b""), says="empty"),
    Case("blank-only.jsonl", "refused", _text("\n   \n\t\n\n"), says="empty"),
    Case("50mb-one-line.jsonl", "refused", _text("x" * (50 * 1024 * 1024) + "\n"), line=1),
    Case("2gb-sparse.jsonl", "refused", _sparse(2 * 1024**3), says="limit"),
    # --- wrong shapes -------------------------------------------------------------------------------------
    Case("array-in-jsonl.jsonl", "imported", _text(json.dumps([ALPACA, ALPACA], ensure_ascii=False, indent=2))),
    Case("jsonl-in-json.json", "imported", _lines(ALPACA, ALPACA)),
    Case("number-instruction.jsonl", "refused", _lines({"instruction": 5, "output": "x"}), says="instruction", line=1),
    Case("null-output.jsonl", "refused", _lines(GOOD, {"instruction": "a", "output": None}), says="output", line=2),
    Case("list-output.jsonl", "refused", _lines({"instruction": "a", "output": ["x", "y"]}), says="output", line=1),
    Case("object-output.jsonl", "refused", _lines({"instruction": "a", "output": {"x": 1}}), says="output", line=1),
    Case(
        "bool-input.jsonl", "refused", _lines({"instruction": "a", "input": True, "output": "b"}), says="input", line=1
    ),
    Case("nan-output.jsonl", "refused", _lines('{"instruction": "a", "output": NaN}'), line=1),
    Case("huge-number.jsonl", "refused", _lines('{"instruction": 1e999, "output": "a"}'), says="instruction", line=1),
    Case("empty-strings.jsonl", "refused", _lines({"instruction": "", "input": "", "output": ""}), line=1),
    Case(
        "whitespace-output.jsonl",
        "refused",
        _lines({"instruction": "a", "input": "", "output": "   \n"}),
        says="output",
        line=1,
    ),
    Case(
        "unknown-role.jsonl",
        "refused",
        _lines({"messages": [{"role": "wizard", "content": "a"}, {"role": "assistant", "content": "b"}]}),
        says="role",
        line=1,
    ),
    Case(
        "assistant-first.jsonl",
        "refused",
        _lines({"messages": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}]}),
        line=1,
    ),
    Case(
        "empty-assistant.jsonl",
        "refused",
        _lines({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": ""}]}),
        line=1,
    ),
    Case("no-assistant.jsonl", "refused", _lines({"messages": [{"role": "user", "content": "a"}]}), line=1),
    Case("messages-not-list.jsonl", "refused", _lines({"messages": "hello"}), says="messages", line=1),
    Case("message-not-object.jsonl", "refused", _lines({"messages": ["hello", "there"]}), says="messages", line=1),
    Case(
        "message-without-content.jsonl",
        "refused",
        _lines({"messages": [{"role": "user"}, {"role": "assistant", "content": "b"}]}),
        line=1,
    ),
    Case(
        "content-is-number.jsonl",
        "refused",
        _lines({"messages": [{"role": "user", "content": 7}, {"role": "assistant", "content": "b"}]}),
        line=1,
    ),
    Case(
        "sharegpt-unknown-from.jsonl",
        "refused",
        _lines({"conversations": [{"from": "robot", "value": "a"}, {"from": "gpt", "value": "b"}]}),
        line=1,
    ),
    # Preference and feedback rows: each bad kind named at its line.
    Case(
        "preference-equal.jsonl",
        "refused",
        _lines({"prompt": "q", "chosen": "same", "rejected": "same"}),
        says="same answer as chosen",
        line=1,
    ),
    Case(
        "preference-prompt-ends-with-answer.jsonl",
        "refused",
        _lines(
            {"prompt": "q", "chosen": "a", "rejected": "b"},
            {
                "prompt": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "x"}],
                "chosen": "a",
                "rejected": "b",
            },
        ),
        says="last turn must be the user's",
        line=2,
    ),
    Case(
        "preference-implicit-no-prefix.jsonl",
        "refused",
        _lines(
            {
                "chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
                "rejected": [{"role": "user", "content": "other"}, {"role": "assistant", "content": "b"}],
            }
        ),
        says="share no prompt",
        line=1,
    ),
    Case(
        "feedback-label-text.jsonl",
        "refused",
        _lines({"prompt": "q", "completion": "a", "label": "yes"}),
        says="label",
        line=1,
    ),
    Case(
        "llamafactory-pairs.jsonl",
        "imported",
        _lines(
            {
                "conversations": [{"from": "human", "value": "¿Dónde está mi pedido?"}],
                "chosen": {"from": "gpt", "value": "Lo comprobamos."},
                "rejected": {"from": "gpt", "value": "No lo sé."},
            }
        ),
    ),
    Case("unknown-keys-only.jsonl", "refused", _lines({"question": "q", "answer": "a"}), says="question"),
    Case("mixed-formats.jsonl", "refused", _lines(GOOD, GOOD_CHAT), line=2),
    # --- tabular -------------------------------------------------------------------------------------------
    Case("100000-columns.csv", "refused", _wide_csv(100_000), says="column"),
    Case("missing-column.csv", "refused", _text("instruction,input\nq,\n"), says="output"),
    Case("header-only.csv", "refused", _text("instruction,input,output\n"), says="no rows"),
    Case("ragged.csv", "refused", _text("instruction,input,output\nq,,a\nq2,a2\n"), line=3),
    Case("unclosed-quote.csv", "refused", _text('instruction,input,output\n"q,,a\nq2,,a2\n'), line=2),
    Case("formula-cells.csv", "imported", _text('instruction,input,output\n"=cmd|\' /C calc\'!A0",,"@SUM(1+1)"\n')),
    Case("wrong-schema.parquet", "refused", _parquet("wrong"), says="column"),
    Case("corrupt-footer.parquet", "refused", _parquet("corrupt"), says="parquet"),
    Case("not-parquet.parquet", "refused", _text(GOOD + "\n"), says="parquet"),
    # --- not text at all ----------------------------------------------------------------------------------
    Case("zip-renamed.jsonl", "refused", _zip, says="zip"),
    Case("gzip-renamed.jsonl", "refused", _bytes(gzip.compress((GOOD + "\n").encode())), says="gzip"),
    Case("png-renamed.jsonl", "refused", _bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)),
    Case("pdf-renamed.json", "refused", _bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")),
]


def write_corpus(folder: Path) -> list[tuple[Case, Path]]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for case in CASES:
        path = folder / case.name
        case.make(path)
        written.append((case, path))
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile-corpus")
    for case, path in write_corpus(target):
        print(f"{case.outcome:9} {path}")
    print(f"{len(CASES)} files in {target}")
