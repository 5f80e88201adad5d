"""The SFTTrainer the worker uses: TRL's, with the loss computed only where the labels count.

With loss on completions only, most positions of a row are prompt tokens whose label is -100, yet
TRL projects every position through the LM head (on CPU it scores all of them; its compact path is
for Triton devices only) and adds entropy and token-accuracy metrics over the whole vocabulary. For
SmolLM2's 49,152-entry vocabulary that head is a large share of each step. This trainer runs the
backbone, then the LM head and cross-entropy on the labelled positions alone: the same loss, the
same gradients (measured in bench/train_throughput.py, README), a fraction of the head's work.

Models whose logits are scaled in ways this does not reproduce, and MoE models (whose router loss TRL
adds), keep TRL's own loss.
"""

from __future__ import annotations

import functools
import types

import torch
import torch.nn.functional as F
from transformers.modeling_outputs import CausalLMOutput
from trl import SFTTrainer

# config attributes that change the logits after the LM head (besides final_logit_softcapping, handled)
_LOGIT_SCALES = ("logit_scale", "output_multiplier", "lm_head_multiplier", "logits_scaling")


def supports_label_only_loss(model) -> bool:
    """True for causal LMs whose logits are the LM head's output (optionally soft-capped)."""
    config = model.config.get_text_config()
    if any(getattr(config, name, None) is not None for name in _LOGIT_SCALES):
        return False
    return model.get_output_embeddings() is not None and hasattr(model, model.base_model_prefix)


def add_label_only_head(model) -> None:
    """Let `model(..., workbench_labels=labels, num_items_in_batch=n)` return the loss of the labelled positions.

    Patched on the base model (before or after PEFT wraps it), so the call goes through PEFT and DDP as
    usual; without the keyword the model's forward is unchanged (generation, TRL's own calls).
    """
    original = model.forward
    softcap = getattr(model.config.get_text_config(), "final_logit_softcapping", None)

    @functools.wraps(type(model).forward)
    def forward(self, *args, workbench_labels=None, num_items_in_batch=None, **kwargs):
        if workbench_labels is None:
            if num_items_in_batch is not None:
                kwargs["num_items_in_batch"] = num_items_in_batch
            return original(*args, **kwargs)
        kwargs["use_cache"] = False
        kwargs.pop("labels", None)  # PEFT passes labels=None along
        hidden = getattr(self, self.base_model_prefix)(*args, **kwargs).last_hidden_state[:, :-1]
        labels = workbench_labels[:, 1:].to(hidden.device)
        mask = labels != -100
        logits = self.get_output_embeddings()(hidden[mask]).float()
        if softcap:
            logits = torch.tanh(logits / softcap) * softcap
        total = F.cross_entropy(logits, labels[mask], reduction="sum")
        count = mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
        return CausalLMOutput(loss=total / torch.as_tensor(count, device=total.device))

    model.forward = types.MethodType(forward, model)


class WorkbenchSFTTrainer(SFTTrainer):
    """SFTTrainer whose loss (training and evaluation) reads the LM head only at labelled positions."""

    def __init__(self, *args, label_only_loss: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        # MoE models add a router loss to TRL's; they keep TRL's path
        self.label_only_loss = label_only_loss and supports_label_only_loss(base) and not self.aux_loss_enabled
        if self.label_only_loss:
            add_label_only_head(base)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if not self.label_only_loss:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        inputs = dict(inputs)
        labels = inputs.pop("labels")
        outputs = model(**inputs, workbench_labels=labels, num_items_in_batch=num_items_in_batch)
        loss = outputs.loss
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * (self.accelerator.num_processes // self.get_tp_size())  # as Trainer.compute_loss does
        if model.training:
            self._count_tokens(inputs)
        return (loss, outputs) if return_outputs else loss

    def _count_tokens(self, inputs: dict) -> None:
        """TRL's `num_tokens` log entry, kept so train.log reads the same."""
        if "attention_mask" in inputs:
            local = inputs["attention_mask"].sum()
        else:
            local = torch.tensor(inputs["input_ids"].numel(), device=inputs["input_ids"].device)
        self._total_train_tokens += self.accelerator.gather_for_metrics(local).sum().item() // self._tp_size
        self._metrics["train"]["num_tokens"] = [self._total_train_tokens]
