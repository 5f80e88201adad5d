"""An experiment: a named group of runs in the registry (table `experiments`, `runs.experiment_id`), one run per
trial of its sweep, queued together and run one after another; cancelled, extended or resumed as a whole.

Its runs are ordinary runs (their jobs survive an app restart, a killed worker leaves the rest queued, each is
evaluated on the same held-out rows when it completes); the experiment only groups them and keeps the sweep.
"""

from __future__ import annotations

import json

from workbench import paths, store
from workbench.data import repository
from workbench.errors import WorkbenchError
from workbench.experiments.sweep import SweepSpec, describe
from workbench.jobs import registry
from workbench.training import runs
from workbench.training.config import TrainConfig

RANK_METRICS = ("exact_match", "field_f1", "json_valid", "rouge_l", "eval_loss")


class ExperimentError(WorkbenchError, ValueError):
    """An experiment operation that cannot be done; the message says why and what to do."""


def create_experiment(name: str, base: TrainConfig, spec: SweepSpec, metric: str = "exact_match") -> int:
    """Validate every trial, then queue one run per trial (`<name>-01`, ...) as one experiment; returns its id.
    Nothing is created when any trial is invalid."""
    name = paths.safe_name(name.strip(), "experiment name")
    if metric not in RANK_METRICS:
        raise ExperimentError(f"metric: {metric!r} — rank by one of {', '.join(RANK_METRICS)}.")
    trials = spec.configs(base.validate())
    revision = repository.get_revision(base.dataset, base.dataset_revision)
    db = store.open_db()
    if db.execute("select 1 from experiments where name = ?", [name]).fetchone():
        raise ExperimentError(f"An experiment named {name!r} exists: choose another name, or extend that one.")
    with store.transaction(db):
        experiment_id = store.row_id(
            db.table("experiments").insert(
                {
                    "name": name,
                    "base_model": base.base_model,
                    "dataset_revision_id": revision.id,
                    "config_json": base.with_updates(dataset_revision=revision.n).to_json(),
                    "sweep_json": json.dumps(spec.to_dict()),
                    "metric": metric,
                    "created": store.now(),
                }
            )
        )
    try:
        _add_runs(experiment_id, name, trials, start=1)
    except BaseException:
        delete_experiment(experiment_id, with_runs=True)
        raise
    runs.schedule()
    return experiment_id


def _add_runs(experiment_id: int, name: str, trials: list[tuple[dict, TrainConfig]], start: int) -> list[int]:
    created = []
    db = store.open_db()
    for number, (trial, config) in enumerate(trials, start):
        run_id = runs.create_run(config, f"{name}-{number:02d}", processes=1)  # one GPU each: a run per GPU
        db.table("runs").update(run_id, {"experiment_id": experiment_id, "trial_json": json.dumps(trial)})
        created.append(run_id)
    return created


def get_experiment(name_or_id: str | int) -> dict:
    db = store.open_db()
    column = "id" if isinstance(name_or_id, int) or str(name_or_id).isdigit() else "name"
    row = next(db.table("experiments").rows_where(f"{column} = ?", [name_or_id]), None)
    if row is None:
        raise ExperimentError(
            f"No experiment {name_or_id!r}: see `python -m workbench experiments list` (or the Experiments page)."
        )
    return row


def list_experiments() -> list[dict]:
    """Every experiment, newest first, with how many of its runs are in each state."""
    found = []
    for row in store.open_db().table("experiments").rows_where(order_by="id desc"):
        members = experiment_runs(row["id"])
        found.append({**row, "runs": len(members), "status": status_of(members)})
    return found


def experiment_runs(experiment_id: int) -> list[dict]:
    """The experiment's runs, in trial order, each with its trial settings (`trial`)."""
    members = runs.list_runs(experiment_id)
    for run in members:
        run["trial"] = json.loads(run.get("trial_json") or "{}")
    return members


def status_of(members: list[dict]) -> str:
    """'running' while any run is queued or running, else 'finished' (or 'empty')."""
    if not members:
        return "empty"
    if any(run["status"] in registry.ACTIVE for run in members):
        return "running"
    return "finished"


def spec_of(experiment: dict) -> SweepSpec:
    return SweepSpec.from_dict(json.loads(experiment["sweep_json"] or "{}"))


def base_config(experiment: dict) -> TrainConfig:
    return TrainConfig.from_dict(json.loads(experiment["config_json"]))


def cancel_experiment(name_or_id: str | int) -> list[str]:
    """Cancel every queued or running run of the experiment (a running one stops after its step, keeping its
    adapter so far); returns one line per run touched."""
    experiment = get_experiment(name_or_id)
    done = []
    for run in experiment_runs(experiment["id"]):
        if run["status"] in registry.ACTIVE and run["status"] != "cancelling":
            done.append(f"{run['name']}: {runs.cancel_run(run['id'])}")
    return done


def extend_experiment(name_or_id: str | int, more: SweepSpec) -> list[int]:
    """Add runs with new values: each new value of a setting with the values the other varied settings already
    have (same base config), skipping trials the experiment has; queued after the rest."""
    experiment = get_experiment(name_or_id)
    members = experiment_runs(experiment["id"])
    original = spec_of(experiment)
    merged = SweepSpec(grid={**original.grid, **more.grid}, ranges=more.ranges, trials=more.trials, seed=more.seed)
    known = [run["trial"] for run in members]
    fresh = [(trial, config) for trial, config in merged.configs(base_config(experiment)) if trial not in known]
    if not fresh:
        raise ExperimentError(f"Every trial given is already in experiment {experiment['name']!r}: nothing to add.")
    numbers = [int(run["name"].rsplit("-", 1)[-1]) for run in members if run["name"].rsplit("-", 1)[-1].isdigit()]
    created = _add_runs(experiment["id"], experiment["name"], fresh, start=max(numbers, default=0) + 1)
    grown = {
        key: [*original.grid.get(key, []), *(v for v in values if v not in original.grid.get(key, []))]
        for key, values in merged.grid.items()
    }
    stored = SweepSpec(grid=grown, ranges=original.ranges, trials=original.trials, seed=original.seed)
    store.open_db().table("experiments").update(experiment["id"], {"sweep_json": json.dumps(stored.to_dict())})
    runs.schedule()
    return created


def resume_experiment(name_or_id: str | int) -> list[str]:
    """Queue again the runs that did not finish (interrupted, failed, cancelled), each from its last checkpoint."""
    experiment = get_experiment(name_or_id)
    done = []
    for run in experiment_runs(experiment["id"]):
        if run["status"] in ("interrupted", "failed", "cancelled"):
            runs.resume_run(run["id"])
            done.append(f"{run['name']}: queued again")
    if not done:
        raise ExperimentError(f"Every run of {experiment['name']!r} is finished or still going: nothing to resume.")
    return done


def delete_experiment(experiment_id: int, *, with_runs: bool = False) -> None:
    """Forget the experiment; its runs stay as plain runs unless `with_runs` (their files go too)."""
    for run in experiment_runs(experiment_id):
        if with_runs:
            runs.delete_run(run["id"])
        else:
            store.open_db().table("runs").update(run["id"], {"experiment_id": None})
    store.open_db().execute("delete from experiments where id = ?", [experiment_id])


def plan_lines(trials: list[tuple[dict, TrainConfig]]) -> list[str]:
    """The runs a sweep makes, a line each: “01  learning_rate=0.0005, lora_r=16”."""
    return [f"{n:02d}  {describe(trial)}" for n, (trial, _) in enumerate(trials, 1)]
