"""What reading a dataset file produces: its rows, each with its problems (`file:line: field: problem`), and the
errors that refuse a file or an export."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from workbench.errors import WorkbenchError

# A check found before the file and line are known: (field, problem, severity).
Issue = tuple[str, str, str]


class FormatError(WorkbenchError, ValueError):
    """The file cannot be read in the asked format; the message says why and what to do."""


class ExportError(WorkbenchError, ValueError):
    """Rows that cannot be written in the asked export format; the message names the row and why."""


@dataclass(frozen=True)
class Problem:
    file: str
    line: int  # 1-based line where the offending row starts; 0 = the whole file
    field: str
    problem: str
    severity: str = "error"  # "error": the row is unusable; "warning": usable as is

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.problem}"


@dataclass
class SourceRow:
    line: int
    raw: str  # the row's source text, so the user can fix it by hand
    data: dict | None  # the row in the stored format; None when it could not be read or converted
    problems: list[Problem]


@dataclass
class ColumnMapping:
    """Which source column feeds which field (csv and parquet): alpaca's, or with `chosen` and `rejected`
    a preference pair's (instruction and input then make its prompt)."""

    instruction: str | None = None
    input: str | None = None
    output: str | None = None
    system: str | None = None
    chosen: str | None = None
    rejected: str | None = None


@dataclass
class ImportResult:
    file: str
    source_format: str
    stored_format: str
    encoding: str
    rows: list[SourceRow]
    notes: list[str]

    @property
    def problems(self) -> list[Problem]:
        return sorted((p for row in self.rows for p in row.problems), key=lambda p: p.line)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity != "error"]

    @property
    def good_rows(self) -> list[dict]:
        return [row.data for row in self.rows if row.data is not None and not has_error(row.problems)]

    @property
    def bad_rows(self) -> list[SourceRow]:
        return [row for row in self.rows if row.data is None or has_error(row.problems)]


def has_error(problems: list[Problem]) -> bool:
    return any(p.severity == "error" for p in problems)


# A converter turns one source object into (stored row or None, source-level issues, field renamer).
Converted = tuple[dict | None, list[Issue], Callable[[str], str]]
