"""The GRPOTrainer the worker uses: TRL's, which also logs how far rewards spread within each prompt's group
and keeps the latest group of sampled answers with their rewards in `runs/<run>/samples.json` for the Runs page.

GRPO learns only from differences within a group (the same prompt answered `num_generations` times): where all
answers of a group score alike there is nothing to learn, which the spread shows.
"""

from __future__ import annotations

from trl import GRPOTrainer

from workbench.training.rewards import completion_text
from workbench.training.samples import group_spread, write_samples

SHOWN_CHARS = 4000  # an answer longer than this is cut in the samples file (the page shows text, never renders it)


class WorkbenchGRPOTrainer(GRPOTrainer):
    def __init__(self, *args, run_name: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.run_name = run_name

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        batch = self._latest_batch() if self.model.training else []
        if batch:
            logs = {**logs, "reward_group_std": group_spread(batch, self.num_generations)}
        super().log(logs, start_time)
        if batch and self.accelerator.is_main_process:
            write_samples(self.run_name, self.state.global_step, self.num_generations, self.reward_func_names, batch)

    def _latest_batch(self) -> list[dict]:
        """The newest generation batch, one dict per sampled answer, in TRL's order (groups consecutive)."""
        logs = self._logs
        names = list(self.reward_func_names)
        weights = [float(w) for w in self.reward_weights.tolist()]
        rows = []
        for i, (prompt, completion) in enumerate(zip(logs["prompt"], logs["completion"], strict=False)):
            scores = {name: _at(logs["rewards"].get(name), i) for name in names}
            rows.append(
                {
                    "prompt": _last_user_turn(prompt),
                    "answer": completion_text(completion)[:SHOWN_CHARS],
                    "rewards": scores,
                    "reward": sum(w * (scores[n] or 0.0) for n, w in zip(names, weights, strict=True)),
                    "advantage": _at(logs["advantages"], i),
                }
            )
        return rows


def _at(values, index: int) -> float | None:
    try:
        value = float(values[index])
    except (IndexError, TypeError, ValueError):
        return None
    return None if value != value else value  # NaN: the reward did not apply


def _last_user_turn(prompt) -> str:
    if isinstance(prompt, list):
        users = [str(m.get("content", "")) for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        return (users[-1] if users else "")[:SHOWN_CHARS]
    return str(prompt)[:SHOWN_CHARS]
