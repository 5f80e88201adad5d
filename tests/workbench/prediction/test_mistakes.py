"""Preference pairs from an adapter's mistakes: on its training rows (a prediction job) or a held-out evaluation."""

import pytest

from workbench.cli import main
from workbench.data import formats, repository
from workbench.evaluation import jobs as eval_jobs
from workbench.prediction import job as predictions
from workbench.prediction import mistakes
from workbench.prediction.mistakes import Candidate, MistakeFilter, MistakesError
from workbench.training import runs

USER = [{"role": "user", "content": "q"}]


def _candidate(row, reference, answer, **scores):
    return Candidate(row, USER, reference, answer, scores)


def test_a_mistake_scores_below_the_rule_and_differs_from_the_reference():
    found = mistakes.mistakes(
        [
            _candidate(1, "a", "b", exact_match=0.0, field_f1=0.5),
            _candidate(2, "a", "a", exact_match=1.0, field_f1=1.0),
            _candidate(3, "a", " a ", exact_match=0.0, field_f1=None),  # differs only in spaces: no pair
            _candidate(4, "", "x", exact_match=0.0),  # no reference: no pair
            _candidate(5, "a", "c", exact_match=0.0, field_f1=0.9),
            _candidate(6, "a", "", exact_match=0.0),  # answered nothing: no rejected side
        ],
        MistakeFilter(),
    )
    assert [c.row for c in found] == [1, 5]
    assert mistakes.describe([_candidate(1, "a", "", exact_match=0.0)], MistakeFilter()).startswith(
        "1 of 1 rows wrong by exact match below 1; 1 of them answered nothing"
    )
    assert [c.row for c in mistakes.mistakes(found, MistakeFilter("field_f1", 0.8))] == [1]
    assert mistakes.pair_rows(found)[0] == {"prompt": USER, "chosen": "a", "rejected": "b"}


def test_a_rule_out_of_range_is_refused_with_what_it_takes():
    with pytest.raises(MistakesError, match="metric: 'bleu2' is not one of exact_match"):
        MistakeFilter("bleu2").check()
    with pytest.raises(MistakesError, match="below: 0 — give a score above 0"):
        MistakeFilter(below=0).check()
    with pytest.raises(MistakesError, match="No pair to save"):
        mistakes.save_pairs("p", [], "note")


def test_pairs_from_the_training_rows_answered_by_a_prediction_job(trained_run, wrong_answers):
    job_id = mistakes.answer_training_rows(trained_run["id"], start=False)
    job = predictions.get_job(job_id)
    assert "words-r1-train.jsonl (6 rows)" in job["title"]
    assert predictions.run_predict(job_id, echo=False) == "completed"
    candidates = mistakes.prediction_candidates(job_id)
    _, revision = repository.revision_by_id(trained_run["dataset_revision_id"])
    assert sorted(c.row for c in candidates) == sorted(i + 1 for i in revision.split.train)
    rows = repository.read_revision_rows(revision)
    for candidate in candidates:
        assert candidate.reference == rows[candidate.row - 1]["output"]  # the row's own answer
        assert candidate.prompt[-1] == {"role": "user", "content": rows[candidate.row - 1]["instruction"]}
    found = mistakes.mistakes(candidates, MistakeFilter())
    assert {c.reference for c in found} == {rows[i]["output"] for i in revision.split.train} - {"dos"}
    assert {c.answer for c in found} == {"mal"}
    revision = mistakes.save_pairs("pairs", found, "from words-demo")
    assert repository.get_dataset("pairs").format == "preference" and revision.rows == len(found)
    stored = repository.read_revision_rows(revision)
    assert not [p for p in formats.validate_rows(stored, "preference", "pairs.jsonl") if p.severity == "error"]
    assert {r["chosen"] for r in stored} <= {r["output"] for r in rows}
    # a second round appends to the same dataset as a new revision
    assert mistakes.save_pairs("pairs", found[:1], "again").n == 2


def test_pairs_from_a_held_out_evaluation(trained_run, wrong_answers):
    job_id = eval_jobs.create_eval(trained_run["id"])
    assert eval_jobs.run_eval(job_id, echo=False) == "completed"
    candidates = mistakes.evaluation_candidates(job_id)
    assert len(candidates) == 2 and all(c.prompt[-1]["role"] == "user" for c in candidates)
    assert all("exact_match" in c.scores for c in candidates)


def test_cli_builds_pairs_from_the_training_rows_and_says_what_to_train(trained_run, wrong_answers, capsys):
    assert main(["datasets", "pairs-from-eval", "words-demo", "--name", "fixes", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "rows wrong by exact match below 1 (training rows, prediction job" in out and "Nothing saved." in out
    assert "fixes" not in repository.dataset_names()
    assert main(["datasets", "pairs-from-eval", "words-demo", "--name", "fixes"]) == 0
    out = capsys.readouterr().out
    assert "pairs added to 'fixes': revision 1" in out and "--set objective=dpo" in out
    assert repository.get_dataset("fixes").format == "preference"


def test_cli_from_held_out_rows_needs_an_evaluation_and_warns_about_them(trained_run, wrong_answers, capsys):
    assert main(["datasets", "pairs-from-eval", "words-demo", "--name", "fixes", "--rows", "validation"]) == 2
    assert "has no finished evaluation to take pairs from" in capsys.readouterr().err
    eval_jobs.run_eval(eval_jobs.create_eval(trained_run["id"]), echo=False)
    code = main(["datasets", "pairs-from-eval", "words-demo", "--name", "fixes", "--rows", "validation"])
    assert code == 0
    captured = capsys.readouterr()
    assert "pairs added to 'fixes'" in captured.out
    assert "no longer measure how it does on rows it has not seen" in captured.err
    assert "of 2 rows wrong by exact match below 1 (evaluation job" in captured.out
    assert runs.get_run("words-demo")["status"] == "completed"
