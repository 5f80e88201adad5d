"""`python -m workbench publish RUN --ollama NAME`: create a verified Ollama model from a run's adapter."""

from __future__ import annotations

import sys
from pathlib import Path

from workbench.publish import ollama as publish_ollama
from workbench.publish.merge import PublishError


def add_parser(commands) -> None:
    parser = commands.add_parser("publish", help="publish a run to Ollama (merged or adapter route), verified")
    parser.add_argument("run", help="run id or name")
    parser.add_argument("--ollama", required=True, metavar="NAME", help="the Ollama model name, e.g. support-bot")
    parser.add_argument("--host", help="Ollama's address (default: OLLAMA_HOST or http://127.0.0.1:11434)")
    parser.add_argument("--route", choices=publish_ollama.ROUTES,
                        help="merged (adapter merged into the base) or adapter (base + LoRA); default: adapter "
                             "when the run's base is already in Ollama and the adapter is plain LoRA")
    parser.add_argument("--quantize", choices=publish_ollama.QUANTIZATIONS, help="let Ollama quantize the weights")
    parser.add_argument("--replay", type=int, default=publish_ollama.DEFAULT_REPLAY, metavar="N",
                        help="held-out prompts to compare between Ollama and the app (default 5; 0: none)")
    parser.add_argument("--modelfile", type=Path, metavar="FILE",
                        help="use TEMPLATE, SYSTEM and PARAMETER lines from this (edited) Modelfile")
    parser.add_argument("--print-modelfile", action="store_true", help="print the planned Modelfile and stop")
    parser.set_defaults(handler=_publish)


def _publish(args) -> int:
    try:
        spec = publish_ollama.plan(args.run, args.ollama, host=args.host, route=args.route, quantize=args.quantize)
        if args.modelfile:
            spec = publish_ollama.apply_modelfile(spec, args.modelfile.read_text(encoding="utf-8"))
        if args.print_modelfile:
            print(publish_ollama.modelfile(spec), end="")
            return 0
        print(f"Publishing run {spec.run_name} to Ollama at {spec.host} as {spec.name} ({spec.route} route"
              + (f", {spec.quantize}" if spec.quantize else "") + ")…", flush=True)
        record = publish_ollama.publish(spec, lambda line: print(f"  {line}", flush=True), replay=args.replay)
    except PublishError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    verification = record["details"]["verification"]
    for pair in verification.get("differing", []):
        print(f"  differs on {pair['prompt'][:60]!r}:\n    app:    {pair['app'][:200]}\n    ollama: {pair['ollama'][:200]}")
    print(f"Published {spec.name}: held-out replay {verification['agreed']}/{verification['replayed']} identical. "
          f"Try it: ollama run {spec.name}")
    return 0
