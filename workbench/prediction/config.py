"""PredictConfig: what answers a file of inputs and how it generates (the page, the CLI and the job share it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from workbench.errors import WorkbenchError

MAX_NEW_TOKENS_LIMIT = 8192


class PredictConfigError(WorkbenchError, ValueError):
    """A setting out of range; the message names it and what it takes."""


@dataclass
class PredictConfig:
    base_model: str
    """The base model that answers (the run's base when `run` is set)."""
    run: str | None = None
    """The run whose adapter answers; None: the base alone."""
    greedy: bool = True
    """Always take the most likely token: the same input gives the same answer (as the evaluation does)."""
    temperature: float = 0.7
    """Sampling temperature when not greedy."""
    top_p: float = 0.9
    """Nucleus sampling when not greedy: keep the smallest set of tokens whose probabilities reach top_p."""
    max_new_tokens: int = 256
    """The most tokens an answer may have; a row stops earlier at its end-of-turn token."""
    seed: int = 0
    """Seed of sampled generation (each batch of rows adds its first row's number, so a resume repeats it)."""
    system_prompt: str = ""
    """Put before each row that has no system message (the run's own system prompt by default)."""
    batch_rows: int = 0
    """Rows generated together; 0: by device (8 on a CPU, 32 on a GPU)."""

    def check(self) -> PredictConfig:
        if not str(self.base_model or "").strip():
            raise PredictConfigError("base_model: empty — name the base model (or pick a run) that answers.")
        if not 1 <= int(self.max_new_tokens) <= MAX_NEW_TOKENS_LIMIT:
            raise PredictConfigError(
                f"max_new_tokens: {self.max_new_tokens} — give 1 to {MAX_NEW_TOKENS_LIMIT} tokens per answer."
            )
        if not self.greedy and not float(self.temperature) > 0:
            raise PredictConfigError(
                f"temperature: {self.temperature} — sampling needs a temperature above 0 (or choose greedy)."
            )
        if not 0 < float(self.top_p) <= 1:
            raise PredictConfigError(f"top_p: {self.top_p} — give a share above 0 and at most 1.")
        if int(self.batch_rows) < 0:
            raise PredictConfigError(f"batch_rows: {self.batch_rows} — give 0 (by device) or more rows.")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> PredictConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})
