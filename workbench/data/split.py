"""Seeded train/validation splits, stored with a dataset revision as row indices.

The same (n_rows, spec) always gives the same split: rows are shuffled with `random.Random(seed)`.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

from workbench.data.records import prompt_and_reference, row_text


@dataclass(frozen=True)
class SplitSpec:
    seed: int = 42
    validation_ratio: float | None = 0.1
    validation_count: int | None = None  # if given, takes precedence over the ratio

    def to_dict(self) -> dict:
        return {"seed": self.seed, "validation_ratio": self.validation_ratio, "validation_count": self.validation_count}

    @classmethod
    def from_dict(cls, data: dict) -> SplitSpec:
        defaults = cls()
        return cls(
            seed=int(data.get("seed", defaults.seed)),
            validation_ratio=data.get("validation_ratio", defaults.validation_ratio),
            validation_count=data.get("validation_count", defaults.validation_count),
        )

    def validation_size(self, n_rows: int) -> int:
        """How many of `n_rows` rows go to validation; ValueError when the spec does not fit."""
        if n_rows <= 0:
            raise ValueError("the dataset has no rows")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"the seed must be a whole number, got {self.seed!r}")
        if self.validation_count is not None:
            count = self.validation_count
            if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= n_rows - 1:
                raise ValueError(
                    f"the validation count must be a whole number from 0 to {n_rows - 1} "
                    f"(the dataset has {n_rows} rows and training needs at least one), "
                    f"got {count!r}"
                )
            return count
        ratio = self.validation_ratio
        if ratio is None:
            raise ValueError("give a validation ratio (0 to under 1) or a validation count")
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 <= ratio < 1:
            raise ValueError(f"the validation ratio must be from 0 up to (not including) 1, got {ratio!r}")
        if ratio == 0 or n_rows < 2:
            return 0
        return min(max(1, math.floor(n_rows * ratio + 0.5)), n_rows - 1)


@dataclass
class Split:
    spec: SplitSpec
    train: list[int]  # sorted 0-based row indices
    validation: list[int]

    def to_dict(self) -> dict:
        return {"spec": self.spec.to_dict(), "train": list(self.train), "validation": list(self.validation)}

    @classmethod
    def from_dict(cls, data: dict) -> Split:
        return cls(
            spec=SplitSpec.from_dict(data.get("spec") or {}),
            train=[int(i) for i in data.get("train", [])],
            validation=[int(i) for i in data.get("validation", [])],
        )

    @property
    def n_rows(self) -> int:
        return len(self.train) + len(self.validation)


# What an import proposes: a tenth of the rows held out, at least MIN_HOLDOUT, seeded; none below MIN_ROWS_TO_SPLIT.
# A tiny hand-written set keeps most rows for training: 14 rows hold out 2 (a tenth, rounded up to 2), not 5.
PROPOSED_RATIO = 0.1
MIN_HOLDOUT = 2
MIN_ROWS_TO_SPLIT = 10
PROPOSED_SEED = 42
ROUGH_SCORE_BELOW = 20  # held-out rows under which holdout_tradeoff says how coarse the score is


def proposed_holdout(n_rows: int) -> int:
    """How many rows an import holds out for validation by default (0: too few rows to spare any)."""
    if n_rows < MIN_ROWS_TO_SPLIT:
        return 0
    return max(MIN_HOLDOUT, round(n_rows * PROPOSED_RATIO))


def holdout_tradeoff(n_rows: int, holdout: int) -> str | None:
    """What a small held-out count trades, in words; None when the held-out score is fine-grained enough."""
    if not 0 < holdout < ROUGH_SCORE_BELOW:
        return None
    return (
        f"Each held-out row is {1 / holdout:.0%} of the held-out score, so {holdout} rows give a rough score; "
        f"holding out more makes it steadier but leaves fewer of the {n_rows} rows to learn from."
    )


def split_rows(n_rows: int, spec: SplitSpec) -> Split:
    """Shuffle row indices with the spec's seed; the first `validation_size` go to validation.

    A ratio rounds to the nearest row count (halves up), with at least one validation row when there
    are two rows or more and the ratio is above 0, and always at least one training row.
    """
    size = spec.validation_size(n_rows)
    order = list(range(n_rows))
    random.Random(spec.seed).shuffle(order)
    return Split(spec=spec, train=sorted(order[size:]), validation=sorted(order[:size]))


def apply_split(rows: list[dict], split: Split) -> tuple[list[dict], list[dict]]:
    """(train rows, validation rows)."""
    _check_fits(rows, split)
    return [rows[i] for i in split.train], [rows[i] for i in split.validation]


def _normalise(text) -> str:
    return re.sub(r"\s+", " ", str(text or "")).strip().casefold()


def prompt_key(row: dict, fmt: str) -> tuple | None:
    """The conversation before the last assistant turn, normalised (case, whitespace); None if empty."""
    prompt, _ = prompt_and_reference(row, fmt)
    key = tuple((str(m.get("role")), _normalise(m.get("content"))) for m in prompt)
    return key if any(content for _, content in key) else None


def split_overlap(rows: list[dict], fmt: str, split: Split) -> list[tuple[int, int]]:
    """(validation index, train index) pairs that leak: the same prompt (case and whitespace aside) or
    the very same row on both sides. Sorted."""
    _check_fits(rows, split)
    by_prompt: dict[tuple, list[int]] = {}
    by_text: dict[str, list[int]] = {}
    for i in split.train:
        key = prompt_key(rows[i], fmt)
        if key is not None:
            by_prompt.setdefault(key, []).append(i)
        by_text.setdefault(row_text(rows[i], fmt), []).append(i)
    pairs: set[tuple[int, int]] = set()
    for v in split.validation:
        key = prompt_key(rows[v], fmt)
        matches = by_prompt.get(key, []) if key is not None else []
        pairs.update((v, t) for t in matches)
        pairs.update((v, t) for t in by_text.get(row_text(rows[v], fmt), []))
    return sorted(pairs)


def _check_fits(rows: list[dict], split: Split) -> None:
    highest = max(split.train + split.validation, default=-1)
    if highest >= len(rows):
        raise ValueError(
            f"the split refers to row {highest + 1} but the dataset has {len(rows)} rows; "
            "make a new split for this revision"
        )
