"""The loss of reference answers given their prompts (prompt tokens masked, as in training): per row and
overall, with one adapter on or adapters off."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable


def completion_loss(
    engine, adapter: str | None, pairs: list[tuple[list[dict], str]], max_length: int = 1024
) -> tuple[float | None, list[int]]:
    """Mean cross-entropy per reference token given its prompt (prompt tokens masked, as in training),
    with the adapter `adapter` active, or with adapters disabled for None (None if no token is left); and
    the positions in `pairs` whose prompt fills max_length, so that no answer token is left to score."""
    losses = row_losses(engine, adapter, pairs, max_length)
    total = sum(loss * tokens for loss, tokens in filter(None, losses))
    count = sum(tokens for _, tokens in filter(None, losses))
    return (total / count if count else None), [i for i, row in enumerate(losses) if row is None]


def row_losses(
    engine,
    adapter: str | None,
    pairs: list[tuple[list[dict], str]],
    max_length: int = 1024,
    on_row: Callable[[int], bool] | None = None,
) -> list[tuple[float, int] | None]:
    """Per pair: (mean cross-entropy per answer token, answer tokens), one forward pass each, or None when its
    prompt fills max_length. `on_row(done)` after each row; returning False stops early (rows left out)."""
    import torch

    model = engine.model
    tokenizer = engine.tokenizer_for(adapter)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    found: list[tuple[float, int] | None] = []
    try:
        with torch.no_grad(), active_adapter(model, engine.peft_name(adapter) if adapter else None):
            for messages, reference in pairs:
                ids, n_prompt = encode_pair(tokenizer, messages, reference)
                ids = ids[:max_length]  # training truncates on the right too
                if len(ids) <= n_prompt:
                    found.append(None)
                else:
                    input_ids = torch.tensor([ids], device=device)
                    logits = model(input_ids=input_ids).logits[0, :-1].float()
                    targets = input_ids[0, 1:].clone()
                    targets[: max(n_prompt - 1, 0)] = -100  # token t+1 is predicted at position t: mask the prompt
                    tokens = int((targets != -100).sum())
                    loss = torch.nn.functional.cross_entropy(logits, targets, ignore_index=-100, reduction="sum")
                    found.append((float(loss) / tokens, tokens))
                if on_row is not None and on_row(len(found)) is False:
                    break
    finally:
        if was_training:
            model.train()
    return found


def encode_pair(tokenizer, messages: list[dict], reference: str) -> tuple[list[int], int]:
    """(token ids of prompt + answer, number of prompt tokens). The answer is what the chat template adds
    for the assistant turn after the generation prompt (its text and end-of-turn marker)."""
    prompt_text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    full_text = tokenizer.apply_chat_template([*messages, {"role": "assistant", "content": reference}], tokenize=False)
    if full_text.startswith(prompt_text):
        answer = full_text[len(prompt_text) :]
    else:  # a template that renders earlier turns differently once an answer follows
        answer = reference + (tokenizer.eos_token or "")
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    return list(prompt_ids) + list(answer_ids), len(prompt_ids)


@contextlib.contextmanager
def active_adapter(model, peft_name: str | None):
    """Run the model as the base (adapters off) or with the adapter PEFT knows as `peft_name` on."""
    if peft_name is None:
        if hasattr(model, "disable_adapter"):  # a PeftModel
            with model.disable_adapter():
                yield
        else:  # transformers' own PEFT integration
            model.disable_adapters()
            try:
                yield
            finally:
                model.enable_adapters()
    else:
        model.set_adapter(peft_name)
        yield


def perplexity(loss: float | None) -> float | None:
    if loss is None:
        return None
    return math.exp(loss) if loss < 700 else math.inf
