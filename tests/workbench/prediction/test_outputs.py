"""The outputs file: appended a batch at a time, a cut last line dropped on resume, streamed downloads."""

import csv
import io
import json

from workbench.prediction import outputs


def _rows(path, *items):
    outputs.append_rows(path, [outputs.answered(n, n + 1, f"in {n}", out, 3, "eos", ref) for n, out, ref in items])


def test_a_line_cut_by_a_kill_is_dropped_and_the_rest_kept(tmp_path):
    path = tmp_path / "outputs.jsonl"
    assert outputs.finished_rows(path) == 0
    _rows(path, (1, "uno", "uno"), (2, "dos", None))
    with open(path, "a") as handle:
        handle.write('{"row": 3, "out')
    assert outputs.finished_rows(path) == 2
    assert path.read_text().endswith("\n") and [r["row"] for r in outputs.iter_rows(path)] == [1, 2]


def test_rows_with_a_reference_are_scored_and_summarised(tmp_path):
    path = tmp_path / "outputs.jsonl"
    _rows(path, (1, "uno", "uno"), (2, "tres", "dos"), (3, "x", None))
    first, second, third = outputs.iter_rows(path)
    assert first["scores"]["exact_match"] == 1.0 and second["scores"]["exact_match"] == 0.0
    assert "reference" not in third and "scores" not in third
    summary = outputs.summary(path)
    assert summary["rows"] == 3 and summary["scored"] == 2
    assert summary["metrics"]["exact_match"] == 0.5
    assert "field_f1" not in summary["metrics"]  # no JSON here: a metric no row has is left out
    assert [r["row"] for r in outputs.tail(path, 2)] == [2, 3]


def test_csv_has_a_column_per_metric_rows_have_and_neutralises_formulas(tmp_path):
    path = tmp_path / "outputs.jsonl"
    _rows(path, (1, '=HYPERLINK("http://x")', "uno"), (2, '{"a": 1}', '{"a": 1}'))
    table = list(csv.reader(io.StringIO("".join(outputs.csv_chunks(path)))))
    header = table[0]
    assert header[:7] == list(outputs.CSV_COLUMNS) and "exact_match" in header and "field_f1" in header
    assert table[1][header.index("output")] == '\'=HYPERLINK("http://x")'
    assert table[2][header.index("field_f1")] == "1.0000" and table[1][header.index("field_f1")] == ""


def test_downloads_write_atomically_as_jsonl_or_csv(tmp_path):
    path = tmp_path / "outputs.jsonl"
    _rows(path, (1, "uno", None))
    outputs.write_download(path, tmp_path / "a.jsonl")
    outputs.write_download(path, tmp_path / "a.csv")
    assert json.loads((tmp_path / "a.jsonl").read_text())["output"] == "uno"
    assert (tmp_path / "a.csv").read_text().splitlines()[1].startswith("1,2,in 1,uno")
    assert not list(tmp_path.glob(".*partial"))  # no temporary file left behind


def test_a_lone_carriage_return_or_a_nul_in_an_answer_keeps_the_csv_whole(tmp_path):
    path = tmp_path / "outputs.jsonl"
    _rows(path, (1, "una\rdos", None), (2, "tres\x00cuatro", None), (3, "cinco\r\nseis", None))
    text = "".join(outputs.csv_chunks(path))
    table = list(csv.reader(io.StringIO(text, newline="")))
    assert len(table) == 4 and all(len(line) == len(outputs.CSV_COLUMNS) for line in table)
    assert [line[3] for line in table[1:]] == ["una\rdos", "trescuatro", "cinco\r\nseis"]
