"""Every file of the hostile corpus through the core, the CLI and (a sample) the Datasets page's upload, and
through the reader of files to predict over (the Compare page's "Predict over a file", `predict`).

A refused file: the core raises FormatError or reports errors, the CLI exits non-zero with a reason naming
the file (and the line where one is at fault), the page shows it without a traceback, and every stored
dataset stays byte-identical. An odd but readable file imports as it should.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from workbench import cli as workbench_cli
from workbench.data import formats, repository

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
_spec = importlib.util.spec_from_file_location("hostile_corpus", HERE / "hostile_corpus.py")
corpus = importlib.util.module_from_spec(_spec)
sys.modules["hostile_corpus"] = corpus  # dataclasses look their module up there
_spec.loader.exec_module(corpus)

CASES = corpus.CASES
# Uploads through the page: one of each kind of trouble (the page reads what the core reads).
PAGE_SAMPLE = (
    "truncated-array.json",
    "nested-10000-deep.jsonl",
    "duplicate-keys.jsonl",
    "mixed-utf8-latin1.jsonl",
    "nul-bytes.jsonl",
    "empty.jsonl",
    "unknown-role.jsonl",
    "100000-columns.csv",
    "corrupt-footer.parquet",
    "zip-renamed.jsonl",
    "preference-equal.jsonl",
    "latin1.jsonl",
)


def test_the_corpus_has_at_least_60_files():
    assert len(CASES) >= 60
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> dict[str, Path]:
    return {case.name: path for case, path in corpus.write_corpus(tmp_path_factory.mktemp("hostile"))}


@pytest.fixture
def stored(user_data, snapshot):
    """The workspace's datasets, and a check that they are byte-identical to what they were."""
    before = snapshot(user_data)
    names = repository.dataset_names()

    def unchanged(extra: tuple[str, ...] = ()) -> None:
        after = {k: v for k, v in snapshot(user_data).items() if not any(f"/{e}" in k for e in extra)}
        assert after == before
        assert sorted(set(repository.dataset_names()) - set(extra)) == sorted(names)

    return unchanged


def _reason_names(text: str, case, file: str) -> None:
    assert file in text, f"{case.name}: the reason does not name the file: {text[:300]}"
    if case.says:
        assert case.says in text.lower(), f"{case.name}: expected {case.says!r} in {text[:300]}"
    if case.line is not None:
        assert re.search(rf"{re.escape(file)}:{case.line}\b|line {case.line}\b", text), (
            f"{case.name}: the reason does not name line {case.line}: {text[:300]}"
        )


def _core(path: Path) -> tuple[str, formats.ImportResult | None]:
    try:
        result = formats.parse(formats.read_import_file(path), path.name)
    except formats.FormatError as exc:
        return str(exc), None
    return "\n".join(str(p) for p in result.errors), result


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_core_and_cli(case, corpus_dir, stored, capsys):
    path = corpus_dir[case.name]
    reason, result = _core(path)
    name = f"case-{Path(case.name).stem}"
    code = workbench_cli.main(["datasets", "import", str(path), "--name", name, "--no-split"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    if case.outcome == "refused":
        assert reason, f"{case.name}: the core accepted it"
        _reason_names(reason, case, path.name)
        assert code != 0, f"{case.name}: the CLI exited 0: {out}"
        _reason_names(err, case, path.name)
        stored()
    else:
        assert result is not None and not result.errors, reason
        assert code == 0, err
        rows = repository.load_rows(name)
        assert rows == result.good_rows and rows
        stored(extra=(name,))


# Refused as training data only for lacking the answer: a file to predict over may (its rows are answered).
ANSWERLESS = ("null-output.jsonl", "no-assistant.jsonl", "missing-column.csv")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_prediction_inputs(case, corpus_dir, stored, capsys, tmp_path):
    from workbench.prediction.inputs import InputError, read_inputs

    path = corpus_dir[case.name]
    try:
        inputs, reason = read_inputs(formats.read_import_file(path), path.name), ""
    except (InputError, formats.FormatError) as exc:
        inputs, reason = None, str(exc)
    if case.outcome == "refused" and case.name not in ANSWERLESS:
        assert inputs is None, f"{case.name}: read as {inputs}"
        _reason_names(reason, case, path.name)
        out = tmp_path / "out.jsonl"
        code = workbench_cli.main(["predict", "base:demo", str(path), "--out", str(out)])
        err = capsys.readouterr().err
        assert code != 0 and "Traceback" not in err and not out.exists()
        _reason_names(err, case, path.name)
        assert not predictions_started()
    else:
        assert inputs and all(row.messages[-1]["role"] == "user" for row in inputs), reason
        if case.outcome == "imported":
            assert len(inputs) == len(_core(path)[1].good_rows)
    stored()


def predictions_started() -> list:
    from workbench.jobs import registry

    return registry.list_jobs(kind="predict")


def test_the_cli_as_a_process_refuses_a_sample_without_a_traceback(corpus_dir, user_data, cli, snapshot):
    before = snapshot(user_data)
    for name in ("nested-10000-deep.jsonl", "2gb-sparse.jsonl", "gzip-renamed.jsonl", "duplicate-keys.jsonl"):
        done = cli("datasets", "import", str(corpus_dir[name]), "--name", "faq", "--no-split")
        assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
        assert name in done.stderr
    assert snapshot(user_data) == before


def test_the_size_limit_is_configurable_and_named(corpus_dir, monkeypatch):
    path = corpus_dir["50mb-one-line.jsonl"]
    monkeypatch.setenv("WORKBENCH_MAX_IMPORT_MB", "10")
    with pytest.raises(formats.FormatError, match=r"50\.0 MB, over the import limit of 10\.0 MB"):
        formats.read_import_file(path)


def test_a_2_gb_file_is_refused_without_being_read(corpus_dir, monkeypatch):
    path = corpus_dir["2gb-sparse.jsonl"]
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("the 2 GB file was read"))
    with pytest.raises(formats.FormatError, match=r"2\.0 GB, over the import limit of 1\.0 GB"):
        formats.read_import_file(path)


@pytest.mark.parametrize("name", PAGE_SAMPLE)
def test_the_page_shows_the_reason_without_a_traceback(name, corpus_dir, stored, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.chdir(ROOT)
    case = next(c for c in CASES if c.name == name)
    path = corpus_dir[name]
    at = AppTest.from_file(str(ROOT / "pages" / "datasets.py"), default_timeout=60).run()
    at.selectbox(key="ds_selected").set_value("Import a file…").run()
    at.file_uploader(key="imp_upload").upload(name, path.read_bytes(), "application/octet-stream").run()
    assert not at.exception, at.exception
    shown = "\n".join(e.value for e in [*at.error, *at.warning, *at.code])
    if case.outcome == "refused":
        _reason_names(shown, case, name)
        assert not [b for b in at.button if b.key == "imp_go"], f"{name}: the page offers to import it"
        stored()
    else:
        assert [b for b in at.button if b.key == "imp_go"], f"{name}: the page does not offer to import it"


def test_formula_cells_import_as_text_and_a_csv_export_neutralises_them(corpus_dir, user_data, tmp_path, capsys):
    import csv

    path = corpus_dir["formula-cells.csv"]
    assert workbench_cli.main(["datasets", "import", str(path), "--name", "formulas", "--no-split"]) == 0
    [row] = repository.load_rows("formulas")
    assert row["instruction"] == "=cmd|' /C calc'!A0" and row["output"] == "@SUM(1+1)"  # stored as it was
    out = tmp_path / "formulas.csv"
    assert workbench_cli.main(["datasets", "export", "formulas", "--format", "csv", "--out", str(out)]) == 0
    [header, cells] = list(csv.reader(out.open()))
    assert header == ["instruction", "input", "output"]
    assert cells == ["'=cmd|' /C calc'!A0", "", "'@SUM(1+1)"]  # a spreadsheet shows them, never runs them
    jsonl = tmp_path / "formulas.jsonl"
    assert workbench_cli.main(["datasets", "export", "formulas", "--out", str(jsonl)]) == 0
    assert '"=cmd|' in jsonl.read_text()  # JSONL keeps the text exactly
