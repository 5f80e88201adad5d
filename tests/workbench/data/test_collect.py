"""Pairs kept from the Compare page: appended as a revision, or a new dataset; refused unsaved when wrong."""

import pytest

from workbench.data import collect, repository

PROMPT = [{"role": "user", "content": "¿Hora?"}]


def test_pairs_start_a_dataset_then_append_revisions_with_the_system_prompt_they_were_made_with():
    first = collect.pair_row(PROMPT, "Las tres.", "No sé.", system_prompt="Eres breve.")
    assert first["prompt"][0] == {"role": "system", "content": "Eres breve."}
    revision = collect.add_pairs("pares", [first], note="from Compare: left better")
    assert (revision.n, revision.rows) == (1, 1) and repository.get_dataset("pares").format == "preference"
    second = collect.pair_row(PROMPT, "Son las tres.", "Ni idea.")
    revision = collect.add_pairs("pares", [second], note="from Compare: right better")
    assert (revision.n, revision.rows) == (2, 2) and repository.load_rows("pares") == [first, second]
    assert repository.get_dataset("pares").latest.note == "from Compare: right better"


def test_a_bad_pair_or_a_dataset_of_another_kind_is_refused_and_nothing_saved():
    with pytest.raises(repository.DatasetError, match="Not added: rejected: the same answer as chosen"):
        collect.add_pairs("pares", [collect.pair_row(PROMPT, "a", "a")], note="x")
    assert "pares" not in repository.dataset_names()
    repository.create_dataset("faq", "alpaca", [{"instruction": "q", "input": "", "output": "a"}])
    with pytest.raises(repository.DatasetError, match="holds instruction rows .* not preference pairs"):
        collect.add_pairs("faq", [collect.pair_row(PROMPT, "a", "b")], note="x")
    assert repository.get_dataset("faq").latest.n == 1
