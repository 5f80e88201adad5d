"""GRPO's rewards: the held-out evaluation's own metrics (workbench/metrics.py, never a second copy), scored on
each sampled answer against its row's reference, plus a pattern and a length limit.

A run names its rewards with weights in one setting, `rewards="field_f1:1,json_valid:0.5"`; each reward gives
a completion a score in [0, 1] and TRL's GRPOTrainer sums them with the weights. A reward that raises on one
answer scores it 0 and says why once in the run's log; it never stops the run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from workbench import metrics


@dataclass(frozen=True)
class RewardSettings:
    """What the pattern and length rewards read (TrainConfig's reward_pattern and reward_max_chars)."""

    pattern: str = ""
    max_chars: int = 0


@dataclass(frozen=True)
class Reward:
    name: str
    label: str
    help: str
    score: Callable[[str, str, RewardSettings], float]  # (answer, reference, settings) -> [0, 1]
    reference: str = ""  # "": needs none; "any": a reference answer; "json": a JSON reference answer


def _json_valid(answer: str, reference: str, settings: RewardSettings) -> float:
    return 1.0 if metrics.parse_json(answer)[0] else 0.0


def _json_score(name: str) -> Callable[[str, str, RewardSettings], float]:
    def score(answer: str, reference: str, settings: RewardSettings) -> float:
        return float(metrics.json_scores(answer, reference)[name] or 0.0)

    return score


def _pattern(answer: str, reference: str, settings: RewardSettings) -> float:
    return 1.0 if re.search(settings.pattern, answer) else 0.0


def _length(answer: str, reference: str, settings: RewardSettings) -> float:
    """1 up to the limit, then falling linearly to 0 at twice the limit."""
    over = len(answer) - settings.max_chars
    return 1.0 if over <= 0 else max(0.0, 1.0 - over / settings.max_chars)


REWARDS: dict[str, Reward] = {
    r.name: r
    for r in (
        Reward("json_valid", "valid JSON", "1 when the answer parses as JSON (a ```json block counts).", _json_valid),
        Reward(
            "json_keys_match",
            "JSON keys match",
            "1 when the answer's top-level JSON keys are the reference's.",
            _json_score("json_keys_match"),
            "json",
        ),
        Reward(
            "field_f1",
            "field F1",
            "Share of the reference's JSON fields the answer gets right (F1 over the flattened leaves).",
            _json_score("field_f1"),
            "json",
        ),
        Reward(
            "exact_match",
            "exact match",
            "1 when the answer equals the reference (whitespace and a trailing full stop aside).",
            lambda answer, reference, settings: metrics.exact_match(answer, reference),
            "any",
        ),
        Reward(
            "rouge_l",
            "ROUGE-L",
            "Word overlap with the reference (longest common subsequence F1).",
            lambda answer, reference, settings: metrics.rouge_l(answer, reference),
            "any",
        ),
        Reward("regex", "matches the pattern", "1 when the answer matches reward_pattern (re.search).", _pattern),
        Reward(
            "length",
            "length limit",
            "1 up to reward_max_chars characters, falling to 0 at twice that.",
            _length,
        ),
    )
}


class RewardError(ValueError):
    pass


def parse(text: str) -> list[tuple[str, float]]:
    """`"field_f1:1,json_valid:0.5"` -> [("field_f1", 1.0), ("json_valid", 0.5)]; a name alone weighs 1."""
    chosen: list[tuple[str, float]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, _, weight = part.partition(":")
        name = name.strip()
        if name not in REWARDS:
            raise RewardError(
                f"rewards: {name!r} is not a reward; use {', '.join(REWARDS)} (name:weight, comma-separated)."
            )
        try:
            value = float(weight) if weight.strip() else 1.0
        except ValueError:
            raise RewardError(
                f"rewards: the weight of {name!r} is {weight.strip()!r}, not a number (e.g. {name}:0.5)."
            ) from None
        if any(name == n for n, _ in chosen):
            raise RewardError(f"rewards: {name!r} is named twice; name each reward once with its weight.")
        chosen.append((name, value))
    return chosen


def problems(text: str, settings: RewardSettings) -> list[str]:
    """What is wrong with a rewards setting on its own (the dataset is checked by `reference_problems`)."""
    try:
        chosen = parse(text)
    except RewardError as error:
        return [str(error)]
    found = []
    if not chosen:
        found.append(
            f"rewards: none chosen — pick at least one: {', '.join(REWARDS)} (as a setting: 'name:weight', "
            f"e.g. '{FOR_JSON}')."
        )
    elif not any(weight for _, weight in chosen):
        found.append("rewards: the weights sum to zero, so every answer would score the same — give one a weight > 0.")
    if any(weight < 0 for _, weight in chosen):
        found.append("rewards: a weight is negative — weights are ≥ 0 (a reward already scores bad answers low).")
    names = {name for name, _ in chosen}
    if "regex" in names:
        if not settings.pattern:
            found.append("reward_pattern: empty, yet the regex reward is chosen — give the pattern answers must match.")
        else:
            try:
                re.compile(settings.pattern)
            except re.error as error:
                found.append(f"reward_pattern: {settings.pattern!r} does not compile ({error}) — fix the expression.")
    if "length" in names and settings.max_chars < 1:
        found.append(
            "reward_max_chars: must be ≥ 1 with the length reward (the answer length it allows, in characters)."
        )
    return found


def _json_answer(reference: str) -> bool:
    """An object or a list: what field rewards score. A bare number or string parses as JSON too, and a text
    task with answers like "4" was once taken for a JSON one (every answer then scored 0)."""
    parsed, value = metrics.parse_json(reference)
    return parsed and isinstance(value, dict | list)


def reference_problems(text: str, references: list[str], dataset: str) -> list[str]:
    """Rewards that compare with a reference, on a dataset whose rows have none (or none in JSON)."""
    found = []
    for name, _ in parse(text):
        needs = REWARDS[name].reference
        if needs and not any(ref.strip() for ref in references):
            found.append(
                f"rewards: {name!r} compares each answer with its row's reference answer, and dataset {dataset!r} "
                "has none — pick json_valid, regex or length, or a dataset with answers."
            )
        elif needs == "json" and not any(_json_answer(ref) for ref in references):
            found.append(
                f"rewards: {name!r} scores JSON fields, and no reference answer of dataset {dataset!r} is JSON — "
                "use exact_match or rouge_l for text answers."
            )
    return found


FOR_JSON = "field_f1:1,json_valid:0.5"  # TrainConfig's default: the sample task's JSON answers
FOR_TEXT = "rouge_l:1"  # graded, so a group's answers differ in score where exact match gives most of them 0


def fitting(text: str, references: list[str], dataset: str) -> str | None:
    """ROUGE-L in place of rewards that score JSON fields when the references are text (the held-out evaluation's
    own choice of metric for text answers); None when `text` fits, does not parse, or the rows have no answers (no
    reference reward fits them; which other one does is the user's to say)."""
    try:
        problems = reference_problems(text, references, dataset)
    except RewardError:
        return None
    return FOR_TEXT if problems and any(ref.strip() for ref in references) else None


def completion_text(completion) -> str:
    """The answer's text, from TRL's conversational completion ([{"role": "assistant", "content": ...}]) or text."""
    if isinstance(completion, list):
        return "".join(str(turn.get("content", "")) for turn in completion if isinstance(turn, dict))
    return str(completion)


def reward_functions(text: str, settings: RewardSettings, say: Callable[[str], None] = print) -> tuple[list, list]:
    """(TRL reward functions, their weights): each scores a batch of completions against the rows' `reference`
    column; a reward that raises scores that answer 0 and says why once."""
    functions, weights = [], []
    for name, weight in parse(text):
        functions.append(_trl_function(REWARDS[name], settings, say))
        weights.append(weight)
    return functions, weights


def _trl_function(reward: Reward, settings: RewardSettings, say: Callable[[str], None]):
    said: set[str] = set()

    def score(prompts, completions, reference=None, **kwargs) -> list[float]:
        references = reference or [""] * len(completions)
        scores = []
        for completion, ref in zip(completions, references, strict=True):
            try:
                value = float(reward.score(completion_text(completion), str(ref or ""), settings))
                scores.append(min(1.0, max(0.0, value)))
            except Exception as error:  # one bad answer scores 0; the run goes on
                kind = type(error).__name__
                if kind not in said:
                    said.add(kind)
                    say(f"Reward {reward.name}: {kind}: {error} — that answer scores 0 (said once per kind of error).")
                scores.append(0.0)
        return scores

    score.__name__ = reward.name  # TRL logs rewards/<name>/mean
    return score


def weighted(row_scores: dict[str, float], chosen: list[tuple[str, float]]) -> float:
    """The reward GRPO reinforces for one answer: the weighted sum of its rewards."""
    return sum(weight * row_scores.get(name, 0.0) for name, weight in chosen)


# Importable by name, as TRL scripts and Axolotl's `trl.reward_funcs` (the exported config) call rewards: those
# that need no setting.
json_valid = _trl_function(REWARDS["json_valid"], RewardSettings(), print)
json_keys_match = _trl_function(REWARDS["json_keys_match"], RewardSettings(), print)
field_f1 = _trl_function(REWARDS["field_f1"], RewardSettings(), print)
exact_match = _trl_function(REWARDS["exact_match"], RewardSettings(), print)
rouge_l = _trl_function(REWARDS["rouge_l"], RewardSettings(), print)
