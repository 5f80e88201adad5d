"""Metrics against hand-computed cases."""

from __future__ import annotations

import pytest

from workbench import metrics as m

pytestmark = pytest.mark.no_demo_model


# ----------------------------------------------------------------------------- text metrics


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  Hello   World!  ", "hello world"),
        ('"Paris."', "paris"),
        ("\u201cMadrid\u201d?", "madrid"),
        ("Caf\u0065\u0301", "caf\u00e9"),  # NFD e + combining acute becomes NFC é
        ("STRASSE", "strasse"),
        ("Stra\u00dfe", "strasse"),  # casefold, not lower
        ("it's", "it's"),  # an unpaired quote stays
        ("", ""),
    ],
)
def test_normalise(text, expected):
    assert m.normalise(text) == expected


def test_exact_versus_normalised_match():
    assert m.exact_match("Paris", "Paris") == 1.0
    assert m.exact_match("  Paris\n", "Paris") == 1.0  # surrounding whitespace only
    assert m.exact_match("paris", "Paris") == 0.0  # case
    assert m.exact_match("Paris.", "Paris") == 0.0  # trailing period
    assert m.exact_match("Paris  is", "Paris is") == 0.0  # inner whitespace
    assert m.normalised_match("paris", "Paris") == 1.0
    assert m.normalised_match("Paris.", "Paris") == 1.0
    assert m.normalised_match("Paris  is", "paris is") == 1.0
    assert m.normalised_match("\u00c1mbar", "\u00e1mbar") == 1.0
    assert m.normalised_match("Paris", "London") == 0.0
    assert m.normalised_match("Paris,", "Paris") == 0.0  # only . ! ? are stripped


def test_rouge_l_hand_computed():
    # pred tokens: the cat sat on mat             (5)
    # ref tokens:  the black cat sat on the mat   (7)
    # LCS = "the cat sat on mat" = 5 -> P = 5/5 = 1, R = 5/7
    # F1 = 2 * 1 * 5/7 / (1 + 5/7) = (10/7) / (12/7) = 10/12 = 5/6
    assert m.rouge_l("The cat sat on mat.", "the black cat sat on the mat") == pytest.approx(5 / 6)
    # Order matters: LCS("a b c", "c b a") = 1 -> P = R = F1 = 1/3
    assert m.rouge_l("a b c", "c b a") == pytest.approx(1 / 3)
    assert m.rouge_l("Same words here", "same  words here!") == 1.0
    assert m.rouge_l("", "") == 1.0
    assert m.rouge_l("", "something") == 0.0
    assert m.rouge_l("something", "") == 0.0
    assert m.rouge_l("alpha beta", "gamma delta") == 0.0


def test_sentence_bleu_bounds():
    sentence = "the quick brown fox jumps over the lazy dog"
    assert m.sentence_bleu(sentence, sentence) == pytest.approx(100.0)
    assert m.sentence_bleu("one two three four five", "six seven eight nine ten") == pytest.approx(0.0, abs=1e-6)
    partial = m.sentence_bleu("the quick brown fox sleeps", sentence)
    assert 0.0 < partial < 100.0


def test_corpus_bleu():
    refs = ["the quick brown fox jumps over the lazy dog", "a stitch in time saves nine"]
    assert m.corpus_bleu(refs, refs) == pytest.approx(100.0)
    assert m.corpus_bleu(["x y z w v", "q r s t u"], refs) == pytest.approx(0.0, abs=1e-6)
    assert m.corpus_bleu([], []) == 0.0
    with pytest.raises(ValueError):
        m.corpus_bleu(["a"], [])


# ----------------------------------------------------------------------------- JSON


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', (True, {"a": 1})),
        ("  [1, 2]\n", (True, [1, 2])),
        ('```json\n{"a": 1}\n```', (True, {"a": 1})),
        ('```\n{"a": 1}\n```', (True, {"a": 1})),
        ("{'a': 1}", (False, None)),  # single quotes are not JSON
        ('{"a": 1,}', (False, None)),
        ('Sure! {"a": 1}', (False, None)),  # prose around JSON is not accepted
        ('```json\n{"a": 1}\n```\n```json\n{"b": 2}\n```', (False, None)),  # two fenced blocks
        ("NaN", (False, None)),
        ("", (False, None)),
        ("hello", (False, None)),
    ],
)
def test_parse_json(text, expected):
    assert m.parse_json(text) == expected


def test_flatten_nested_paths():
    value = {"a": {"b": 1, "c": [{"d": "x"}, 2]}, "e": [], "f": {}, "g": None}
    assert m.flatten(value) == {"a.b": 1, "a.c[0].d": "x", "a.c[1]": 2, "e": [], "f": {}, "g": None}
    assert m.flatten([{"k": True}, [3]]) == {"[0].k": True, "[1][0]": 3}
    assert m.flatten(7) == {"": 7}


def test_json_scores_exact_unicode_and_numbers():
    reference = '{"name": "\u00c1mbar", "price": 4500, "tags": ["red", "Blue"]}'
    prediction = '```json\n{"name": "\u00e1mbar", "price": 4500.0, "tags": ["Red", "blue."]}\n```'
    assert m.json_scores(prediction, reference) == {
        "json_valid": 1.0,
        "json_keys_match": 1.0,
        "field_precision": 1.0,
        "field_recall": 1.0,
        "field_f1": 1.0,
    }


def test_json_scores_missing_and_extra_keys():
    reference = '{"name": "Ámbar", "age": 30, "city": "Madrid"}'
    prediction = '{"name": "ámbar", "age": 30.0, "country": "ES", "zip": "28001"}'
    # pred leaves 4, ref leaves 3, correct = name + age = 2
    # P = 2/4 = 1/2, R = 2/3, F1 = 2 * (1/2) * (2/3) / (1/2 + 2/3) = (2/3) / (7/6) = 4/7
    scores = m.json_scores(prediction, reference)
    assert scores["json_valid"] == 1.0
    assert scores["json_keys_match"] == 0.0
    assert scores["field_precision"] == pytest.approx(1 / 2)
    assert scores["field_recall"] == pytest.approx(2 / 3)
    assert scores["field_f1"] == pytest.approx(4 / 7)


def test_json_scores_nested_value_mismatch():
    reference = '{"user": {"id": 1, "roles": ["admin", "dev"]}, "active": true}'
    prediction = '{"user": {"id": 2, "roles": ["admin"]}, "active": 1}'
    # ref leaves: user.id, user.roles[0], user.roles[1], active (4)
    # pred leaves: user.id, user.roles[0], active (3); correct: user.roles[0] only (id differs, true != 1)
    # P = 1/3, R = 1/4, F1 = 2 * (1/12) / (7/12) = 2/7
    scores = m.json_scores(prediction, reference)
    assert scores["json_keys_match"] == 1.0
    assert scores["field_precision"] == pytest.approx(1 / 3)
    assert scores["field_recall"] == pytest.approx(1 / 4)
    assert scores["field_f1"] == pytest.approx(2 / 7)


def test_json_scores_invalid_prediction_and_non_json_reference():
    assert m.json_scores("not json", '{"a": 1}') == {
        "json_valid": 0.0,
        "json_keys_match": 0.0,
        "field_precision": 0.0,
        "field_recall": 0.0,
        "field_f1": 0.0,
    }
    assert m.json_scores('{"a": 1}', "plain text answer") == dict.fromkeys(m.JSON_METRICS)


# ----------------------------------------------------------------------------- rows and runs


def test_score_row_has_every_metric():
    text_row = m.score_row("Paris.", "Paris")
    assert tuple(text_row) == m.METRICS
    assert text_row["exact_match"] == 0.0
    assert text_row["normalised_match"] == 1.0
    assert text_row["rouge_l"] == 1.0
    assert text_row["bleu"] == pytest.approx(m.sentence_bleu("Paris.", "Paris"))
    assert all(text_row[name] is None for name in m.JSON_METRICS)

    json_row = m.score_row('{"a": 1}', '{"a": 1}')
    assert json_row["exact_match"] == 1.0
    assert json_row["json_valid"] == 1.0
    assert json_row["field_f1"] == 1.0


def test_aggregate_ignores_none():
    rows = [
        {**dict.fromkeys(m.METRICS, 1.0)},
        {**dict.fromkeys(m.METRICS, 0.0), **dict.fromkeys(m.JSON_METRICS)},
        {**dict.fromkeys(m.METRICS, 0.5), "field_f1": 0.0},
    ]
    result = m.aggregate(rows)
    assert tuple(result) == m.METRICS
    assert result["exact_match"] == pytest.approx(0.5)  # (1 + 0 + 0.5) / 3
    assert result["bleu"] == pytest.approx(0.5)
    assert result["json_valid"] == pytest.approx(0.75)  # (1 + 0.5) / 2, the None row left out
    assert result["field_f1"] == pytest.approx(0.5)  # (1 + 0) / 2
    only_text = m.aggregate([dict(rows[1])])
    assert only_text["field_f1"] is None
    assert m.aggregate([]) == dict.fromkeys(m.METRICS)


def test_aggregate_uses_corpus_bleu_when_texts_given():
    predictions = ["the quick brown fox jumps over the lazy dog", "a stitch in time"]
    references = ["the quick brown fox jumps over the lazy dog", "a stitch in time saves nine"]
    rows = [m.score_row(p, r) for p, r in zip(predictions, references, strict=True)]
    mean_sentence = sum(row["bleu"] for row in rows) / len(rows)
    corpus = m.corpus_bleu(predictions, references)
    assert corpus != pytest.approx(mean_sentence)  # the two must differ for this test to mean anything
    assert m.aggregate(rows)["bleu"] == pytest.approx(mean_sentence)
    assert m.aggregate(rows, predictions, references)["bleu"] == pytest.approx(corpus)


def test_compare_deltas():
    base = {**dict.fromkeys(m.METRICS), "exact_match": 0.25, "rouge_l": 0.5, "bleu": 40.0}
    adapter = {
        **dict.fromkeys(m.METRICS),
        "exact_match": 0.75,
        "rouge_l": 0.25,
        "bleu": 40.0,
        "json_valid": 1.0,
    }
    rows = m.compare(base, adapter)
    assert [row["metric"] for row in rows] == list(m.METRICS)
    by_name = {row["metric"]: row for row in rows}
    assert by_name["exact_match"] == {"metric": "exact_match", "base": 0.25, "adapter": 0.75, "delta": 0.5}
    assert by_name["rouge_l"]["delta"] == pytest.approx(-0.25)
    assert by_name["bleu"]["delta"] == 0.0
    assert by_name["json_valid"]["delta"] is None  # base has no value
    assert by_name["field_f1"] == {"metric": "field_f1", "base": None, "adapter": None, "delta": None}


def _row(exact=0.0, rouge=0.0, f1=None):
    return {"exact_match": exact, "rouge_l": rouge, "field_f1": f1}


@pytest.mark.parametrize(
    ("base", "adapter", "expected"),
    [
        (_row(exact=1.0, rouge=1.0), _row(exact=1.0, rouge=1.0), "both right"),
        (_row(rouge=0.9), _row(exact=1.0, rouge=1.0), "adapter better"),
        (_row(exact=1.0, rouge=1.0), _row(rouge=0.9), "adapter worse"),
        (_row(rouge=0.2), _row(rouge=0.6), "adapter better"),
        (_row(rouge=0.6), _row(rouge=0.2), "adapter worse"),
        (_row(rouge=0.5), _row(rouge=0.5), "same"),
        (_row(rouge=0.0), _row(rouge=0.0), "both wrong"),
        # JSON rows: field F1 decides before ROUGE-L
        (_row(rouge=0.9, f1=0.2), _row(rouge=0.1, f1=0.8), "adapter better"),
        (_row(rouge=0.1, f1=0.8), _row(rouge=0.9, f1=0.2), "adapter worse"),
        (_row(rouge=0.1, f1=0.5), _row(rouge=0.9, f1=0.5), "same"),
        (_row(rouge=0.1, f1=0.0), _row(rouge=0.9, f1=0.0), "both wrong"),
    ],
)
def test_verdict(base, adapter, expected):
    assert m.verdict(base, adapter) == expected
