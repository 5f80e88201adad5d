"""Text and JSON metrics for comparing a model's predictions with reference answers.

Every per-row metric returns a float in [0, 1] (BLEU: 0-100) or ``None`` when it does not apply
(the JSON metrics on a reference that is not JSON). Nothing here needs a model.
"""

from __future__ import annotations

import functools
import json
import math
import re
import unicodedata

import sacrebleu

METRICS = (
    "exact_match",
    "normalised_match",
    "rouge_l",
    "bleu",
    "json_valid",
    "json_keys_match",
    "field_precision",
    "field_recall",
    "field_f1",
)
# What each figure of the held-out table means, in a line; every one is on 0-1 except BLEU (0-100, as sacrebleu
# and papers give it), which says so in its shown name.
METRIC_HELP = {
    "exact_match": "share of answers identical to the reference (surrounding whitespace aside); 0-1",
    "normalised_match": "the same after lower-casing, collapsing spaces and dropping quotes and final . ! ?; 0-1",
    "rouge_l": "overlap of the longest common word sequence with the reference (F1); 0-1",
    "bleu": "corpus BLEU over all rows, n-gram overlap with the reference; 0-100",
    "json_valid": "share of answers that parse as JSON; 0-1",
    "json_keys_match": "share of answers whose top-level keys are the reference's; 0-1",
    "field_precision": "of the fields answered, the share with the reference's value; 0-1",
    "field_recall": "of the reference's fields, the share answered with its value; 0-1",
    "field_f1": "harmonic mean of field precision and recall; 0-1",
    "loss": "mean cross-entropy of the reference's tokens (lower is better)",
    "perplexity": "exp(loss): how surprised the model is by the reference (lower is better)",
}
SHOWN_NAMES = {"bleu": "bleu (0-100)"}

JSON_METRICS = ("json_valid", "json_keys_match", "field_precision", "field_recall", "field_f1")

_QUOTE_PAIRS = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019", "\u00ab": "\u00bb", "`": "`"}
_TRAILING = ".!?"
_WS = re.compile(r"\s+")
_WORD = re.compile(r"\w+")
_FENCE = re.compile(r"\A```[ \t]*(?:json)?[ \t]*\n(.*?)\n?[ \t]*```\Z", re.DOTALL | re.IGNORECASE)
_EPS = 1e-9


# ----------------------------------------------------------------------------- text


def normalise(text: str) -> str:
    """NFC, casefold, collapse whitespace, then strip surrounding quotes and trailing ``. ! ?``."""
    text = _WS.sub(" ", unicodedata.normalize("NFC", text or "").casefold()).strip()
    while True:
        before = text
        text = text.rstrip(_TRAILING).strip()
        if len(text) >= 2 and _QUOTE_PAIRS.get(text[0]) == text[-1]:
            text = text[1:-1].strip()
        if text == before:
            return text


def exact_match(prediction: str, reference: str) -> float:
    return 1.0 if (prediction or "").strip() == (reference or "").strip() else 0.0


def normalised_match(prediction: str, reference: str) -> float:
    return 1.0 if normalise(prediction) == normalise(reference) else 0.0


def _tokens(text: str) -> list[str]:
    return _WORD.findall(normalise(text))


class _WordTokens:
    """rouge-score's tokenizer interface over our normalised words (its own keeps only ASCII letters and
    digits, which splits "información" in two: measured in bench/library_vs_hand.py)."""

    def tokenize(self, text: str) -> list[str]:
        return _tokens(text)


@functools.cache
def _rouge_scorer():
    # Heavy: rouge-score imports nltk (about 0.9 s), which only an evaluation needs.
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], tokenizer=_WordTokens())


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 over normalised word tokens (rouge-score's LCS): LCS / len(pred) and LCS / len(ref),
    harmonic mean. Two empty texts agree (1.0)."""
    if not _tokens(prediction) and not _tokens(reference):
        return 1.0
    return float(_rouge_scorer().score(reference or "", prediction or "")["rougeL"].fmeasure)


def sentence_bleu(prediction: str, reference: str) -> float:
    """sacrebleu's smoothed sentence BLEU, 0-100."""
    return float(sacrebleu.sentence_bleu(prediction or "", [reference or ""]).score)


def corpus_bleu(predictions: list[str], references: list[str]) -> float:
    """sacrebleu corpus BLEU, 0-100 (0.0 for no rows)."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if not predictions:
        return 0.0
    preds = [p or "" for p in predictions]
    refs = [r or "" for r in references]
    return float(sacrebleu.corpus_bleu(preds, [refs]).score)


# ----------------------------------------------------------------------------- JSON


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def parse_json(text: str) -> tuple[bool, object]:
    """Strict JSON of the stripped text, or of a single ```json fenced block; (False, None) otherwise."""
    stripped = (text or "").strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1).strip()
    if not stripped:
        return False, None
    try:
        return True, json.loads(stripped, parse_constant=_reject_constant)
    except ValueError:
        return False, None


def flatten(value, prefix: str = "") -> dict[str, object]:
    """Leaf paths of a JSON value: ``{"a.b": 1, "a.c[0].d": "x"}``; empty dicts and lists are leaves."""
    if isinstance(value, dict) and value:
        out: dict[str, object] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{index}]"))
        return out
    return {prefix: value}


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def values_equal(a, b) -> bool:
    """Two JSON leaves agree: strings after `normalise`, numbers within float error, others exactly."""
    if isinstance(a, str) and isinstance(b, str):
        return normalise(a) == normalise(b)
    if _is_number(a) and _is_number(b):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0) or a == b
    return type(a) is type(b) and a == b


def _top_keys(value):
    if isinstance(value, dict):
        return ("dict", frozenset(value))
    if isinstance(value, list):
        return ("list", len(value))
    return ("scalar",)


def json_scores(prediction: str, reference: str) -> dict[str, float | None]:
    """JSON validity, top-level key match and field precision / recall / F1 over flattened leaves.

    All five are None when the reference is not JSON (a plain-text task).
    """
    ref_ok, ref_value = parse_json(reference)
    if not ref_ok:
        return dict.fromkeys(JSON_METRICS)
    pred_ok, pred_value = parse_json(prediction)
    if not pred_ok:
        return dict.fromkeys(JSON_METRICS, 0.0)
    pred_leaves, ref_leaves = flatten(pred_value), flatten(ref_value)
    correct = sum(
        1 for path, value in pred_leaves.items() if path in ref_leaves and values_equal(value, ref_leaves[path])
    )
    precision = correct / len(pred_leaves) if pred_leaves else 0.0
    recall = correct / len(ref_leaves) if ref_leaves else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "json_valid": 1.0,
        "json_keys_match": 1.0 if _top_keys(pred_value) == _top_keys(ref_value) else 0.0,
        "field_precision": precision,
        "field_recall": recall,
        "field_f1": f1,
    }


# ----------------------------------------------------------------------------- rows and runs


def score_row(prediction: str, reference: str) -> dict[str, float | None]:
    """Every metric in METRICS for one prediction (bleu is sentence BLEU)."""
    scores: dict[str, float | None] = {
        "exact_match": exact_match(prediction, reference),
        "normalised_match": normalised_match(prediction, reference),
        "rouge_l": rouge_l(prediction, reference),
        "bleu": sentence_bleu(prediction, reference),
    }
    scores.update(json_scores(prediction, reference))
    return {name: scores[name] for name in METRICS}


def aggregate(
    scores: list[dict],
    predictions: list[str] | None = None,
    references: list[str] | None = None,
) -> dict[str, float | None]:
    """Mean of each metric over the rows where it is not None; corpus BLEU when the texts are given."""
    result: dict[str, float | None] = {}
    for name in METRICS:
        values = [row[name] for row in scores if row.get(name) is not None]
        result[name] = sum(values) / len(values) if values else None
    if predictions is not None and references is not None and predictions:
        result["bleu"] = corpus_bleu(predictions, references)
    return result


def compare(base: dict, adapter: dict) -> list[dict]:
    """One row per metric, in METRICS order: base, adapter and adapter - base (None if either is None)."""
    rows = []
    for name in METRICS:
        b, a = base.get(name), adapter.get(name)
        rows.append({"metric": name, "base": b, "adapter": a, "delta": None if a is None or b is None else a - b})
    return rows


def verdict(base_scores: dict, adapter_scores: dict) -> str:
    """Classify one row: "both right", "adapter better", "adapter worse", "both wrong" or "same".

    Exact match decides first. When neither is exact, field F1 decides if both have one (JSON
    reference), else ROUGE-L; a tie at 0 is "both wrong", any other tie is "same".
    """
    base_exact = (base_scores.get("exact_match") or 0.0) >= 1.0
    adapter_exact = (adapter_scores.get("exact_match") or 0.0) >= 1.0
    if base_exact and adapter_exact:
        return "both right"
    if adapter_exact:
        return "adapter better"
    if base_exact:
        return "adapter worse"
    key = "field_f1"
    if base_scores.get(key) is None or adapter_scores.get(key) is None:
        key = "rouge_l"
    b, a = base_scores.get(key) or 0.0, adapter_scores.get(key) or 0.0
    if a > b + _EPS:
        return "adapter better"
    if a < b - _EPS:
        return "adapter worse"
    return "both wrong" if a <= _EPS else "same"
