"""`python -m workbench publish RUN --ollama NAME`: create a verified Ollama model from a run's adapter."""

from __future__ import annotations

import sys
from pathlib import Path

from workbench.publish import gguf
from workbench.publish import ollama as publish_ollama
from workbench.publish.merge import PublishError


def add_parser(commands) -> None:
    parser = commands.add_parser("publish", help="publish a run to Ollama (merged or adapter route), verified")
    parser.add_argument("run", help="run id or name")
    parser.add_argument("--ollama", required=True, metavar="NAME", help="the Ollama model name, e.g. support-bot")
    parser.add_argument("--host", help="Ollama's address (default: OLLAMA_HOST or http://127.0.0.1:11434)")
    parser.add_argument(
        "--route",
        choices=publish_ollama.ROUTES,
        help="merged (adapter merged into the base) or adapter (base + LoRA); default: adapter "
        "when the run's base is already in Ollama and the adapter is plain LoRA",
    )
    parser.add_argument(
        "--quantize", choices=publish_ollama.OLLAMA_QUANTIZATIONS, help="let Ollama quantize the weights"
    )
    parser.add_argument(
        "--replay",
        type=int,
        default=publish_ollama.DEFAULT_REPLAY,
        metavar="N",
        help="held-out prompts to compare between Ollama and the app (default 5; 0: none)",
    )
    parser.add_argument(
        "--modelfile",
        type=Path,
        metavar="FILE",
        help="use TEMPLATE, SYSTEM and PARAMETER lines from this (edited) Modelfile",
    )
    parser.add_argument("--print-modelfile", action="store_true", help="print the planned Modelfile and stop")
    parser.set_defaults(handler=_publish)

    export = commands.add_parser("export-gguf", help="export a run as GGUF files (merged model, adapter, Modelfile)")
    export.add_argument("run", help="run id or name")
    export.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="the export folder (new, empty, or an earlier export; default exports/RUN/gguf-QUANT)",
    )
    export.add_argument(
        "--quantize",
        choices=gguf.GGUF_QUANTIZATIONS,
        default=gguf.DEFAULT_QUANTIZATION,
        help=f"weights of the merged GGUF (default {gguf.DEFAULT_QUANTIZATION}; the K-quants need llama-cpp-python)",
    )
    export.add_argument("--no-adapter", action="store_true", help="do not write the adapter alone as GGUF")
    export.add_argument(
        "--with-base",
        action="store_true",
        help="also write the base as GGUF, to apply the adapter to (`llama-cli -m BASE --lora ADAPTER`)",
    )
    export.add_argument(
        "--compare",
        type=int,
        default=gguf.DEFAULT_COMPARE,
        metavar="N",
        help="held-out prompts to compare with llama.cpp when llama-cpp-python is installed "
        f"(default {gguf.DEFAULT_COMPARE}; 0: none)",
    )
    export.set_defaults(handler=_export)


def _publish(args) -> int:
    try:
        spec = publish_ollama.plan(args.run, args.ollama, host=args.host, route=args.route, quantize=args.quantize)
        if args.modelfile:
            spec = publish_ollama.apply_modelfile(spec, args.modelfile.read_text(encoding="utf-8"))
        if args.print_modelfile:
            print(publish_ollama.modelfile(spec), end="")
            return 0
        print(
            f"Publishing run {spec.run_name} to Ollama at {spec.host} as {spec.name} ({spec.route} route"
            + (f", {spec.quantize}" if spec.quantize else "")
            + ")…",
            flush=True,
        )
        record = publish_ollama.publish(spec, lambda line: print(f"  {line}", flush=True), replay=args.replay)
    except PublishError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    verification = record["details"]["verification"]
    for pair in verification.get("differing", []):
        print(
            f"  differs on {pair['prompt'][:60]!r}:\n    app:    {pair['app'][:200]}\n"
            f"    ollama: {pair['ollama'][:200]}"
        )
    print(
        f"Published {spec.name}: held-out replay {verification['agreed']}/{verification['replayed']} identical. "
        f"Try it: ollama run {spec.name}"
    )
    return 0


def _export(args) -> int:
    if args.no_adapter and args.with_base:
        print("error: --with-base goes with the adapter file; drop --no-adapter.", file=sys.stderr)
        return 2
    job = gguf.GGUFExport(
        args.run,
        out_dir=args.out,
        quantize=args.quantize,
        include_adapter=not args.no_adapter,
        include_base=args.with_base,
        compare=args.compare,
    )
    print(f"Exporting run {args.run} as GGUF ({args.quantize})…", flush=True)
    try:
        manifest = gguf.export_gguf(job, lambda line: print(f"  {line}", flush=True))
    except PublishError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for part in manifest["files"].values():
        print(f"  {part['name']}  {part['bytes'] / 1e6:.1f} MB  sha256 {part['sha256'][:16]}…")
    if manifest["adapter_skipped"]:
        print(f"  no separate adapter file: {manifest['adapter_skipped']}")
    comparison = manifest.get("llama_cpp_comparison")
    if comparison:
        print(
            f"  llama.cpp vs transformers (greedy): {comparison['same_answers']}/{comparison['prompts']} same answers, "
            f"{comparison['same_tokenization']}/{comparison['prompts']} same tokenization"
        )
    print(f"Exported to {manifest['folder']} (Modelfile and README.md inside).")
    return 0
