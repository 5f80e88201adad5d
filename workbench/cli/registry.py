"""`python -m workbench registry check|rebuild`: is the registry sound, and rebuild it from disk if not."""

from __future__ import annotations

from workbench import recovery


def add_parser(commands) -> None:
    parser = commands.add_parser("registry", help="check the registry (workbench.db), or rebuild it from disk")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("check", help="exit 0 when workbench.db is sound, 1 with what to do when not").set_defaults(
        handler=_check
    )
    rebuild = sub.add_parser("rebuild", help="move a damaged workbench.db aside and rebuild it from the files")
    rebuild.add_argument(
        "--force", action="store_true", help="rebuild even a sound registry (its evaluations are not rebuilt)"
    )
    rebuild.set_defaults(handler=_rebuild)


def _check(args) -> int:
    problem = recovery.registry_problem()
    if problem is None:
        print("The registry is sound.")
        return 0
    print(f"error: {problem}")
    return 1


def _rebuild(args) -> int:
    if recovery.registry_problem() is None and not args.force:
        print(
            "The registry is sound: nothing to rebuild. A rebuild keeps datasets, runs and metrics but not "
            "evaluations or publish records; pass --force to rebuild anyway."
        )
        return 1
    print(recovery.rebuild().summary())
    return 0
