"""Odds-ratio preference optimisation: TRL's ORPOTrainer (under trl.experimental) learns the chosen answer
and, in the same loss, its odds over the rejected one; no reference model."""

from __future__ import annotations

from workbench.training.config import TrainConfig
from workbench.training.objectives import dpo
from workbench.training.objectives.base import Objective


def trl_config(config: TrainConfig, common: dict):
    # Heavy: TRL loads only in the worker.
    from trl.experimental.orpo import ORPOConfig

    return ORPOConfig(**common, max_length=config.max_length, beta=config.beta)


def trainer_class() -> type:
    from trl.experimental.orpo import ORPOTrainer

    class CountingORPOTrainer(ORPOTrainer):
        """ORPOTrainer whose batches (chosen_* and rejected_* only, no input_ids) count in tokens seen, so that
        tokens/s reads as for the other objectives."""

        def _track_num_input_tokens(self, inputs):
            if self.args.include_num_input_tokens_seen == "no" or "chosen_attention_mask" not in inputs:
                return super()._track_num_input_tokens(inputs)
            local = inputs["chosen_attention_mask"].sum() + inputs["rejected_attention_mask"].sum()
            self.state.num_input_tokens_seen += self.accelerator.gather(local).sum().item()

    return CountingORPOTrainer


OBJECTIVE = Objective(
    name="orpo",
    label="ORPO",
    kinds=("preference",),
    learns="learns the chosen answers and, in one loss, to prefer them over the rejected ones (no reference)",
    rows=dpo.rows,
    trl_config=trl_config,
    trainer_class=trainer_class,
    metrics=(*dpo.REWARD_METRICS, "nll_loss", "log_odds_ratio"),
    extra_sequences=2,
)
