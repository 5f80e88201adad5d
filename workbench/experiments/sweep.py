"""A sweep: which settings an experiment varies and the runs that makes, each a valid TrainConfig.

    grid:    learning_rate=1e-4,5e-4,2e-3  lora_r=8,16         every combination (3 × 2 = 6 runs)
    trials:  --trials 4 --range learning_rate=1e-4:3e-3:log      4 random draws (log-uniform with :log)

Both together: each grid combination with each draw. At most MAX_VARIED settings vary, at most MAX_RUNS runs.
Varying the LoRA rank without its alpha keeps alpha at twice the rank, as the recipes have it.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
from dataclasses import dataclass, field
from typing import Any

import yaml

from workbench.errors import WorkbenchError
from workbench.training.config import ConfigError, TrainConfig

# The settings a sweep may vary: what changes how well and how fast an adapter learns.
VARIABLE = (
    "learning_rate",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "num_epochs",
    "target_modules",
    "max_length",
    "objective",
    "per_device_batch_size",
    "gradient_accumulation_steps",
    "warmup",
    "weight_decay",
    "lr_scheduler",
    "seed",
    "stop_at",
    "max_steps",
    # GRPO
    "num_generations",
    "temperature",
    "beta",
)
MAX_VARIED = 3
MAX_RUNS = 48
_TYPES = {f.name: f.type for f in dataclasses.fields(TrainConfig)}


class SweepError(WorkbenchError, ValueError):
    """A sweep that cannot be run; the message names each problem and what to do."""


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    log: bool = False

    def draw(self, rng: random.Random, integer: bool) -> float | int:
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        return round(value) if integer else float(f"{value:.3g}")

    def text(self) -> str:
        return f"{self.low:g}:{self.high:g}" + (":log" if self.log else "")


@dataclass
class SweepSpec:
    grid: dict[str, list] = field(default_factory=dict)
    ranges: dict[str, Range] = field(default_factory=dict)
    trials: int = 0
    seed: int = 0

    # ------------------------------------------------------------------------------------------ reading

    @classmethod
    def parse(cls, sweeps: list[str], ranges: list[str] | None = None, trials: int = 0, seed: int = 0) -> SweepSpec:
        """From the CLI's `--sweep KEY=V1,V2` and `--range KEY=LOW:HIGH[:log]` (problems: SweepError)."""
        problems: list[str] = []
        grid: dict[str, list] = {}
        for text in sweeps:
            key, values = _pair(text, "--sweep", problems)
            if key:
                grid[key] = [_typed(key, v.strip(), problems) for v in values.split(",") if v.strip()]
        parsed: dict[str, Range] = {}
        for text in ranges or []:
            key, bounds = _pair(text, "--range", problems)
            if key:
                found = _range(key, bounds, problems)
                if found:
                    parsed[key] = found
        if problems:
            raise SweepError("The sweep cannot be run:\n- " + "\n- ".join(problems))
        return cls(grid=grid, ranges=parsed, trials=trials, seed=seed).check()

    @classmethod
    def from_yaml(cls, text: str, source: str) -> SweepSpec:
        """`sweep: {learning_rate: [1e-4, 5e-4]}`, `ranges: {learning_rate: "1e-4:3e-3:log"}`, `trials: 4`."""
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise SweepError(f"{source}: not valid YAML ({exc}).") from exc
        if not isinstance(data, dict) or set(data) - {"sweep", "ranges", "trials", "seed"}:
            raise SweepError(f"{source}: expected the keys sweep, ranges, trials and seed (a mapping).")
        sweeps = [
            f"{k}={','.join(str(v) for v in (vs if isinstance(vs, list) else [vs]))}"
            for k, vs in (data.get("sweep") or {}).items()
        ]
        ranges = [f"{k}={v}" for k, v in (data.get("ranges") or {}).items()]
        try:
            return cls.parse(sweeps, ranges, int(data.get("trials") or 0), int(data.get("seed") or 0))
        except SweepError as exc:
            raise SweepError(f"{source}: {exc}") from exc

    def to_dict(self) -> dict:
        return {
            "grid": self.grid,
            "ranges": {k: r.text() for k, r in self.ranges.items()},
            "trials": self.trials,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: dict) -> SweepSpec:
        problems: list[str] = []
        ranges = {k: _range(k, v, problems) for k, v in (data.get("ranges") or {}).items()}
        return cls(
            grid=dict(data.get("grid") or {}),
            ranges={k: r for k, r in ranges.items() if r},
            trials=int(data.get("trials") or 0),
            seed=int(data.get("seed") or 0),
        )

    # -------------------------------------------------------------------------------------------- trials

    @property
    def varied(self) -> list[str]:
        return [*self.grid, *(k for k in self.ranges if k not in self.grid)]

    def check(self) -> SweepSpec:
        problems = []
        if not self.varied:
            problems.append("nothing varies: give --sweep KEY=V1,V2 or --trials N with --range KEY=LOW:HIGH")
        if len(self.varied) > MAX_VARIED:
            problems.append(f"{len(self.varied)} settings vary ({', '.join(self.varied)}): at most {MAX_VARIED}")
        for key, values in self.grid.items():
            if not values:
                problems.append(f"{key}: no values")
        if self.ranges and self.trials < 1:
            problems.append("ranges are drawn from only with --trials N (N ≥ 1)")
        if self.trials and not self.ranges:
            problems.append(
                f"--trials {self.trials}: give the ranges to draw from, e.g. --range learning_rate=1e-4:3e-3:log"
            )
        if problems:
            raise SweepError("The sweep cannot be run:\n- " + "\n- ".join(problems))
        return self

    def trial_settings(self) -> list[dict[str, Any]]:
        """The settings of each run, in order, without duplicates."""
        combos = [dict(zip(self.grid, values, strict=True)) for values in itertools.product(*self.grid.values())]
        if self.trials:
            rng = random.Random(self.seed)
            draws = [
                {k: r.draw(rng, _TYPES[k] in ("int", int)) for k, r in self.ranges.items()} for _ in range(self.trials)
            ]
            combos = [{**combo, **draw} for combo in combos for draw in draws]
        unique: list[dict] = []
        for combo in combos:
            if combo not in unique:
                unique.append(combo)
        return unique

    def configs(self, base: TrainConfig) -> list[tuple[dict, TrainConfig]]:
        """(the trial's settings, its whole config) for every run; SweepError names each invalid one."""
        settings = self.trial_settings()
        if len(settings) > MAX_RUNS:
            raise SweepError(f"The sweep makes {len(settings)} runs: at most {MAX_RUNS}. Give fewer values or trials.")
        found, problems = [], []
        for trial in settings:
            updates = dict(trial)
            if "lora_r" in trial and "lora_alpha" not in trial:
                updates["lora_alpha"] = 2 * int(trial["lora_r"])
            try:
                found.append((trial, base.with_updates(**updates).validate()))
            except ConfigError as exc:
                problems.append(f"{describe(trial)}: {'; '.join(exc.problems)}")
        if problems:
            raise SweepError("Some runs of the sweep are not valid settings:\n- " + "\n- ".join(problems))
        return found


def describe(trial: dict) -> str:
    """“learning_rate=0.0005, lora_r=16”"""
    return ", ".join(
        f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}" for key, value in trial.items()
    )


def _pair(text: str, flag: str, problems: list[str]) -> tuple[str | None, str]:
    key, sep, rest = text.partition("=")
    key = key.strip()
    if not sep or not key:
        problems.append(f"{flag} {text!r}: expected KEY=VALUES")
        return None, ""
    if key not in VARIABLE:
        problems.append(f"{key}: cannot be swept (these can: {', '.join(VARIABLE)})")
        return None, ""
    return key, rest


def _typed(key: str, text: str, problems: list[str]):
    kind = _TYPES[key]
    try:
        if kind in ("int", int):
            return int(float(text)) if float(text).is_integer() else int(text)
        if kind in ("float", float):
            return float(text)
    except ValueError:
        problems.append(f"{key}: {text!r} is not a number")
        return text
    return text


def _range(key: str, text: str, problems: list[str]) -> Range | None:
    parts = str(text).split(":")
    try:
        low, high = float(parts[0]), float(parts[1])
    except (ValueError, IndexError):
        problems.append(f"{key}: range {text!r} — expected LOW:HIGH or LOW:HIGH:log")
        return None
    log = len(parts) > 2 and parts[2] == "log"
    if not low < high or (log and low <= 0):
        problems.append(f"{key}: range {text!r} — LOW must be below HIGH (and above 0 on a log scale)")
        return None
    if _TYPES.get(key) not in ("int", int, "float", float):
        problems.append(f"{key}: only numeric settings take a range; give its values with --sweep")
        return None
    return Range(low, high, log)
