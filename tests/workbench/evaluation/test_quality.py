"""score_adapter: the held-out score an evaluation job gives, without the job; parity within one row."""

import pytest

from tests.workbench.evaluation.test_jobs import RUN, run_id, trained_home  # noqa: F401 (fixtures)
from workbench import paths, store
from workbench.evaluation import heldout
from workbench.evaluation import jobs as eval_jobs
from workbench.evaluation import results as eval_results
from workbench.evaluation.quality import HeldOutScore, parity, score_adapter
from workbench.training import runs


def test_it_answers_and_scores_the_held_out_rows_as_the_evaluation_job_does(run_id):  # noqa: F811
    job_id = eval_jobs.create_eval(run_id, split="validation")
    assert eval_jobs.run_eval(job_id, echo=False) == "completed"
    stored = {row["metric"]: row["adapter"] for row in eval_results.results(run_id)}
    job_answers = [row["adapter_output"] for row in eval_results.rows(run_id)]

    score = score_adapter(RUN, paths.home() / runs.get_run(run_id)["adapter_dir"])

    assert score.rows == len(job_answers) == 4
    assert score.answers == job_answers
    assert score.exact_match == pytest.approx(stored["exact_match"])
    assert all(score.answers)  # real answers (held-out words it never saw: seldom exact, but text to compare)
    assert score.field_f1 is None and score.json_valid is None  # plain words, not JSON
    assert score_adapter(RUN, paths.home() / runs.get_run(run_id)["adapter_dir"], limit=2).rows == 2


def test_a_run_without_held_out_rows_is_refused_with_what_to_do(run_id):  # noqa: F811
    run = runs.get_run(run_id)
    store.open_db().execute("update revisions set split_json = null where id = ?", [run["dataset_revision_id"]])
    with pytest.raises(heldout.EvalError, match="no held-out rows to score: split its dataset first"):
        score_adapter(RUN, paths.home() / run["adapter_dir"])


def score(exact_rows: int, rows: int = 30) -> HeldOutScore:
    return HeldOutScore(rows, exact_rows / rows, None, None, [])


def test_parity_allows_one_row_and_no_more():
    assert parity(score(29), score(30)) and parity(score(30), score(29))
    assert not parity(score(28), score(30))
    assert parity(score(28), score(30), tolerance_rows=2)
    assert score(19).exact_rows() == 19  # 19/30 read back as a count, not 18 through rounding down
