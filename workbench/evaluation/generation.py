"""How held-out answers are generated for scoring: greedy, batched, with room for the longest reference,
reporting progress while the engine works, leaving out prompts the model cannot read."""

from __future__ import annotations

import time
from collections.abc import Callable

from workbench.data.stats import conversation_token_counts
from workbench.inference.engine import GenerationSettings
from workbench.models.loading import context_window

MAX_NEW_TOKENS = 1024


# Rows generated together (per side), by device type. On 2 CPU cores SmolLM2-135M generates 8 rows in
# about the time of 1.5 rows one by one; a GPU takes far more at no extra cost per step.
EVAL_BATCH_ROWS = {"cpu": 8, "cuda": 32}


PROGRESS_EVERY_SECONDS = 2.0


def scoring_settings(tokenizer, references: list[str], seed: int) -> GenerationSettings:
    """Greedy generation with room for the longest reference and some slack (the engine stops earlier, at
    the end of the turn): how every held-out score is generated."""
    longest = max(len(tokenizer(ref, add_special_tokens=False)["input_ids"]) for ref in references)
    return GenerationSettings(
        system_prompt="",
        temperature=0.0,
        top_p=1.0,
        max_new_tokens=min(MAX_NEW_TOKENS, int(longest * 1.3) + 16),
        repetition_penalty=1.0,
        seed=seed,
        greedy=True,
    )


def readable(examples: list[tuple], tokenizer, base: str, max_new: int) -> tuple[list[tuple], list[dict]]:
    """The examples whose prompt and answer fit the model's context, and {"row", "tokens"} of those that do
    not (they cannot be scored)."""
    window = context_window(base)
    if window is None:
        return examples, []
    lengths = conversation_token_counts([messages for _, messages, _ in examples], tokenizer, generation_prompt=True)
    fits = [n + max_new <= window for n in lengths]
    kept = [example for example, ok in zip(examples, fits, strict=True) if ok]
    unread = [{"row": ex[0] + 1, "tokens": n} for ex, n, ok in zip(examples, lengths, fits, strict=True) if not ok]
    return kept, unread


def batches(items: list, size: int) -> list[list]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def generate_reporting(engine, sides: list, settings, report: Callable[[int], None]) -> list:
    """engine.generate, telling `report(tokens so far)` at most every PROGRESS_EVERY_SECONDS while it works."""
    last = time.monotonic()
    for tokens, _ in enumerate(engine.stream(sides, settings), 1):
        if time.monotonic() - last >= PROGRESS_EVERY_SECONDS:
            last = time.monotonic()
            report(tokens)
    return engine.last_results
