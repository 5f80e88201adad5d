"""Read dataset files in any supported format, check every row, and write rows out in any export format.

Input formats: alpaca, chat (OpenAI messages), sharegpt, completion (prompt/completion, plain or
conversational) as JSONL or a JSON array; csv/tsv and parquet through a column mapping. Each row is
converted to one of the two stored formats of `records` ("alpaca" or "chat") and checked; every problem
names the file, the line where the row starts and the field, so the user can find and fix it.
`parse` is pure: bytes in, an `ImportResult` out.

One module per job: `limits` (size), `decoding` (bytes to text), `json_records` (text to records),
`detection` (which format), `tabular` (CSV and Parquet), `conversion` (a JSON format to a stored row: one
converter per format), `validation` (stored rows), `parsing` (the whole file), `export`, and `problems`
(what they all report). This package's names are the API; the modules' are not.
"""

from workbench.data.formats.conversion import NO_ANSWER
from workbench.data.formats.decoding import decode
from workbench.data.formats.detection import INPUT_FORMATS, detect_format
from workbench.data.formats.export import (
    EXPORT_FORMATS,
    SPREADSHEET_FORMULA_START,
    dumps_csv,
    dumps_export,
    dumps_jsonl,
    export_rows,
    export_suffix,
    export_targets,
    spreadsheet_safe,
)
from workbench.data.formats.limits import check_import_size, max_import_bytes, read_import_file
from workbench.data.formats.parsing import parse
from workbench.data.formats.problems import (
    ColumnMapping,
    ExportError,
    FormatError,
    ImportResult,
    Problem,
    SourceRow,
)
from workbench.data.formats.tabular import COLUMNS_NAMED, guess_mapping, tabular_columns
from workbench.data.formats.validation import validate_row, validate_rows

__all__ = [
    "COLUMNS_NAMED",
    "EXPORT_FORMATS",
    "INPUT_FORMATS",
    "NO_ANSWER",
    "SPREADSHEET_FORMULA_START",
    "ColumnMapping",
    "ExportError",
    "FormatError",
    "ImportResult",
    "Problem",
    "SourceRow",
    "check_import_size",
    "decode",
    "detect_format",
    "dumps_csv",
    "dumps_export",
    "dumps_jsonl",
    "export_rows",
    "export_suffix",
    "export_targets",
    "guess_mapping",
    "max_import_bytes",
    "parse",
    "read_import_file",
    "spreadsheet_safe",
    "tabular_columns",
    "validate_row",
    "validate_rows",
]
