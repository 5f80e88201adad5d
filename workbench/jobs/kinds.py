"""Every kind of background job, declared once: its handler, whether it holds the device, what comes after
it, and what a user does when its worker was lost.

A handler is named by its module path ("module:function", taking the job row and returning its final
status and result) so that the jobs layer stays below the kinds it runs and the app never imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class JobKind:
    name: str
    handler: str  # "module:function"
    heavy: bool  # loads a model onto the device: one heavy job runs at a time
    recovery: str  # what to do when its worker was killed
    follow_up: str | None = None  # "module:function" called with the job row once it completed
    # Queued heavy jobs start by priority, then oldest first. An evaluation goes before waiting training runs:
    # it is short, and its scores are what a user (or a sweep's table) waits for.
    priority: int = 1


DECLARED = (
    JobKind(
        "train",
        "workbench.training.worker:train_job",
        heavy=True,
        recovery="Resume the run to continue from its last checkpoint.",
        follow_up="workbench.evaluation.jobs:evaluate_after_training",
    ),
    JobKind(
        "evaluate",
        "workbench.evaluation.jobs:evaluate_job",
        heavy=True,
        recovery="Start the evaluation again.",
        priority=0,
    ),
    JobKind("publish", "workbench.publish.ollama:publish_job", heavy=True, recovery="Publish again."),
    JobKind("export", "workbench.publish.gguf:export_job", heavy=True, recovery="Export again."),
    JobKind("prepare", "workbench.models.preparing:prepare_job", heavy=False, recovery="Prepare the model again."),
    JobKind(
        "import",
        "workbench.training.imported:import_job",
        heavy=False,  # reads headers and builds the base on the meta device: no weights, no device
        recovery="Import the adapter again (nothing half-copied was kept).",
    ),
    JobKind(
        "predict",
        "workbench.prediction.job:predict_job",
        heavy=True,
        recovery="Resume it to go on from its last answered row.",
    ),
    JobKind(
        "hardest",
        "workbench.evaluation.hardest:hardest_job",
        heavy=True,
        recovery="Measure the hardest rows again (it takes one forward pass per row).",
    ),
)
BY_NAME = {kind.name: kind for kind in DECLARED}
NAMES = tuple(BY_NAME)
HEAVY = tuple(kind.name for kind in DECLARED if kind.heavy)


def recovery(name: str) -> str:
    kind = BY_NAME.get(name)
    return kind.recovery if kind else "Start it again."


def start_order(job: dict) -> tuple[int, int]:
    """Which queued job starts first: by its kind's priority, then the oldest."""
    kind = BY_NAME.get(job["kind"])
    return (kind.priority if kind else 1, job["id"])
