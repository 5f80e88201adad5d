"""Reading a file of inputs to answer: any format the importer reads, each row's answer optional.

A row with an answer (alpaca's output, a completion, a conversation ending with the assistant) keeps it
as the reference its prediction is scored against; a row without one is only answered. Problems are the
importer's (`file:line: field: problem`), and a file with any is refused whole: nothing is predicted from
half a file.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.data import formats
from workbench.data.records import prompt_and_reference
from workbench.errors import WorkbenchError

PROBLEMS_NAMED = 5
TABULAR = ("csv", "parquet")
# Beyond the importer's own guesses (instruction/prompt/question, output/response/answer/completion).
INPUT_NAMES = ("text", "input", "query", "content", "message", "body")
REFERENCE_NAMES = ("reference", "gold", "label", "target", "expected", "answer")


class InputError(WorkbenchError, ValueError):
    """A file of inputs that cannot be predicted over; the message names the file, line and field."""


@dataclass(frozen=True)
class PredictionInput:
    line: int
    """Where the row starts in the file (1-based; a Parquet file's row number)."""
    messages: list[dict]
    """The conversation to answer, ending with the user's turn."""
    reference: str | None
    """The file's own answer for the row, when it has one."""


def read_inputs(
    data: bytes,
    file: str,
    fmt: str | None = None,
    prompt_column: str | None = None,
    reference_column: str | None = None,
) -> list[PredictionInput]:
    """The rows of `data` as inputs to answer. For CSV and Parquet, `prompt_column` holds the inputs
    (guessed from 'instruction', 'prompt', 'question'… when not given) and `reference_column` the answers
    to score against, if any."""
    mapping = None
    try:
        formats.check_import_size(len(data), file)
        fmt = fmt or formats.detect_format(data, file, answers_optional=True)
        if fmt in TABULAR:
            mapping = _mapping(data, file, prompt_column, reference_column)
        result = formats.parse(data, file, fmt, mapping, answers_optional=True)
    except formats.FormatError as exc:
        raise InputError(str(exc)) from exc
    if result.errors:
        raise InputError(_refusal(file, result.errors))
    return [_input(row.line, row.data, result.stored_format) for row in result.rows if row.data is not None]


def columns(data: bytes, file: str) -> list[str]:
    """The column names of a CSV or Parquet file (for choosing the input column)."""
    try:
        return formats.tabular_columns(data, file)
    except formats.FormatError as exc:
        raise InputError(str(exc)) from exc


def is_tabular(data: bytes, file: str) -> bool:
    try:
        return formats.detect_format(data, file, answers_optional=True) in TABULAR
    except formats.FormatError:
        return False


def guess_columns(names: list[str]) -> tuple[str | None, str | None]:
    """The column that most likely holds the inputs, and the one that holds answers to score against."""
    guessed = formats.guess_mapping(names)
    lower = {name.strip().lower(): name for name in names}
    prompt = guessed.instruction or next((lower[n] for n in INPUT_NAMES if n in lower), None)
    reference = guessed.output or next((lower[n] for n in REFERENCE_NAMES if n in lower and lower[n] != prompt), None)
    return prompt, reference


def numeric_inputs(rows: list[PredictionInput]) -> bool:
    """Whether most inputs are bare numbers (an id column chosen by mistake)."""
    texts = [row.messages[-1]["content"].strip() for row in rows[:200]]
    numbers = sum(text.replace(".", "", 1).replace("-", "", 1).isdigit() for text in texts)
    return bool(texts) and numbers >= 0.9 * len(texts)


def _mapping(data: bytes, file: str, prompt_column: str | None, reference_column: str | None):
    names = formats.tabular_columns(data, file)
    guessed = formats.guess_mapping(names)
    fallback_prompt, fallback_reference = guess_columns(names)
    guessed.instruction = guessed.instruction or fallback_prompt
    guessed.output = guessed.output or fallback_reference
    if prompt_column:
        guessed.instruction, guessed.input = prompt_column, None
    if guessed.instruction is None:
        listed = ", ".join(repr(name) for name in names[: formats.COLUMNS_NAMED])
        raise InputError(
            f"{file}: which column holds the inputs? None is named instruction, prompt, question or text; the columns "
            f"are: {listed}. Choose it as the input column (`--column NAME` on the command line)."
        )
    if reference_column is not None:
        guessed.output = reference_column or None
    if guessed.output == guessed.instruction:
        guessed.output = None
    return guessed


def _input(line: int, row: dict, stored: str) -> PredictionInput:
    messages, answer = prompt_and_reference(row, stored)
    reference = None if answer == formats.NO_ANSWER else answer
    return PredictionInput(line, [{"role": m["role"], "content": str(m["content"])} for m in messages], reference)


def _refusal(file: str, errors: list[formats.Problem]) -> str:
    named = "\n".join(f"  {problem}" for problem in errors[:PROBLEMS_NAMED])
    more = len(errors) - PROBLEMS_NAMED
    more_line = f"\n  … and {more} more" if more > 0 else ""
    rows = len({problem.line for problem in errors})
    return (
        f"{file}: {rows} row{'' if rows == 1 else 's'} cannot be read as inputs, so nothing was started:\n"
        f"{named}{more_line}\nFix them (or remove those rows) and start again."
    )


def prompt_text(messages: list[dict]) -> str:
    """The input as one text for tables and downloads: the user turn, or the whole exchange if longer."""
    turns = [m for m in messages if m["role"] != "system"]
    if len(turns) == 1:
        return turns[0]["content"]
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in turns)
