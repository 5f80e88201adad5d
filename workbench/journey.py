"""Where a user stands on the way from a dataset to a published model, and the one next thing to do."""

from __future__ import annotations

from dataclasses import dataclass

from workbench import store
from workbench.data import repository
from workbench.experiments import ranking
from workbench.jobs import registry
from workbench.publish import records
from workbench.training import runs


@dataclass(frozen=True)
class Step:
    name: str  # Dataset, Train, Compare, Publish
    page: str  # the page that does it
    done: bool
    status: str  # where the user stands, in words
    action: str  # what to do next on that page


def steps() -> list[Step]:
    """The four steps, each with what is there already."""
    datasets = repository.list_datasets()
    samples = set(repository.sample_names())
    with_rows = [d for d in datasets if d.latest.rows >= 2 and d.name not in samples]
    held_out = [d for d in with_rows if d.latest.split and d.latest.split.validation]
    all_runs = runs.list_runs()
    completed = [r for r in all_runs if r["status"] == "completed"]
    active = [r for r in all_runs if r["status"] in registry.ACTIVE]
    best = best_held_out()
    published = [r for r in records.list_records() if r["status"] in ("published", "exported")]
    return [
        Step(
            "Dataset",
            "pages/datasets.py",
            bool(with_rows),
            _dataset_status(datasets, samples, held_out),
            "Bring your own data: import a file or write rows, and keep some rows for validation",
        ),
        Step(
            "Train",
            "pages/train.py",
            bool(completed),
            f"{len(completed)} completed run(s)" + (f", {len(active)} in progress" if active else "")
            if all_runs
            else "no run yet",
            "Train a LoRA adapter on your dataset (the defaults suit this machine)",
        ),
        Step(
            "Compare",
            "pages/compare.py",
            best is not None,
            f"best held-out exact match {best[1]:.0%} ({best[0]})" if best else "no held-out score yet",
            "Chat with base and adapter side by side, and score both on held-out rows",
        ),
        Step(
            "Publish",
            "pages/publish.py",
            bool(published),
            f"{len(published)} model(s) published or exported" if published else "nothing published yet",
            "Publish to Ollama or export GGUF files that answer as the adapter does",
        ),
    ]


def _dataset_status(datasets: list, samples: set[str], held_out: list) -> str:
    own = [d for d in datasets if d.name not in samples]
    if not datasets:
        return "no dataset yet"
    if not own:
        return f"only the sample ({', '.join(sorted(d.name for d in datasets))}) so far"
    return f"{len(own)} dataset(s) of your own, {len(held_out)} with held-out rows"


def only_the_sample() -> bool:
    """The workspace holds the shipped sample datasets and nothing of the user's own yet."""
    names, samples = set(repository.dataset_names()), set(repository.sample_names())
    return bool(names) and names <= samples


def next_step(all_steps: list[Step] | None = None) -> Step | None:
    """The first step not done yet (None when all four are)."""
    return next((step for step in all_steps or steps() if not step.done), None)


def best_held_out() -> tuple[str, float] | None:
    """(run name, adapter exact match) of the best completed evaluation on validation rows, if any; of equal
    scores, the run the Experiments page would rank first (ranking.tie_break)."""
    top = (
        store.open_db()
        .execute(
            "select runs.id, runs.name, evals.adapter_value from evals join runs on runs.id = evals.run_id "
            "where evals.metric = 'exact_match' and evals.split = 'validation' and evals.adapter_value = ("
            "select max(adapter_value) from evals where metric = 'exact_match' and split = 'validation')"
        )
        .fetchall()
    )
    if not top:
        return None
    run_id, name, value = min(top, key=lambda row: ranking.tie_break(_final_eval_loss(row[0]), row[0]))
    return name, float(value)


def _final_eval_loss(run_id: int) -> float | None:
    return runs.training_outcome(runs.get_run(run_id)).get("eval_loss")
