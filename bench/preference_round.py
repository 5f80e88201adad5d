"""Does a preference round help? SFT, then DPO on the pairs built from its own mistakes, against more SFT.

    .venv/bin/python bench/preference_round.py [--data bench/data/tickets-soporte.jsonl]
        [--base smollm2-135m-instruct] [--seed 42] [--objectives dpo,orpo:learning_rate=2e-3]
        [--home DIR] [--speed-only]                                    (about 45 min on 2 cores)

In a scratch WORKBENCH_HOME, as a user would in the app:
1. import the file with 30 rows held out; train SFT with the CPU preset for one epoch; score it on the
   held-out rows (exact match, field F1, valid JSON: `evaluation/quality.py`, as an evaluation job does);
2. answer the *training* rows with that adapter (a `predict` job) and keep the wrong ones as pairs
   (chosen: the reference, rejected: its answer; `prediction/mistakes.py`); the held-out rows stay unseen;
3. for each objective asked (DPO, ORPO), a run on those pairs going on from the SFT adapter, scored;
4. the baseline: the SFT run trained on for the same extra wall time instead (steps 2 + 3 of the first
   objective, at the SFT run's own seconds per step), scored.
Then the speed of preference training, each in its own process on the same pairs, one epoch: the workbench's
DPO run against TRL's `DPOTrainer` with its documented defaults (and a default LoraConfig), tokens/s over the
pairs' real tokens and peak memory (max RSS).

The last line: `<objective>_vs_more_sft=+N rows` per objective and `speed_vs_trl=X.XXx`. Given --home of an
earlier run, steps 1, 2 and 4 are read back from it: only the objectives asked are trained and scored.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = "preference-round.json"
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / "data" / "tickets-soporte.jsonl")
    parser.add_argument("--base", default="smollm2-135m-instruct")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--validation", type=int, default=30, help="held-out rows")
    parser.add_argument("--sft-epochs", type=float, default=1.0, help="epochs of the SFT run the round starts from")
    parser.add_argument(
        "--objectives",
        default="dpo,orpo:learning_rate=2e-3",
        help="comma list of OBJECTIVE[:KEY=VALUE...] (TrainConfig settings; learning rate 2e-4 unless given)",
    )
    parser.add_argument("--speed-only", action="store_true", help="only the speed part, on --home's pairs")
    parser.add_argument("--no-speed", action="store_true", help="leave the speed part out")
    parser.add_argument("--home", help="a workspace of an earlier run of this script")
    parser.add_argument("--speed-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.speed_child:
        return speed_child(*args.speed_child)
    home = args.home or tempfile.mkdtemp(prefix="wb-preference-")
    os.environ["WORKBENCH_HOME"] = home
    print(f"workspace {home}, {os.cpu_count()} CPU cores, base {args.base}, file {args.data.name}", flush=True)
    gains = {} if args.speed_only else quality_round(args)
    line = " ".join(f"{name}_vs_more_sft={gain:+d} rows" for name, gain in gains.items())
    if not args.no_speed:
        line += f" speed_vs_trl={speed_round(home):.2f}x"
    print(line.strip())
    return 0


def quality_round(args) -> dict[str, int]:
    """Steps 1-4; what steps 1, 2 and 4 found is kept in the workspace's STATE file, so that a later call with
    --home tries other objectives or settings against the same SFT run, pairs and baseline."""
    from workbench.training.config import NO_TASK_CHECKS, cpu_preset

    state_file = Path(os.environ["WORKBENCH_HOME"]) / STATE
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    # Fixed budgets, as the round was measured: no run stops when good (a preference run cannot check anyway).
    preset = cpu_preset().with_updates(
        dataset="task", base_model=args.base, seed=args.seed, auto_evaluate=False, **NO_TASK_CHECKS
    )
    if not state:
        state = first_steps(args, preset)
        state_file.write_text(json.dumps(state))
    sft = state["sft"]

    gains = {}
    for spec in args.objectives.split(","):
        objective, *settings = spec.split(":")
        updates = {"learning_rate": 2e-4, **dict(_setting(item) for item in settings)}
        config = preset.with_updates(dataset="pairs", objective=objective, start_from=sft, num_epochs=1.0, **updates)
        run, seconds = train(objective, config)
        state.setdefault("extra_seconds", state["pair_seconds"] + seconds)
        gains[spec] = score(spec, run).exact_rows()

    if "baseline" not in state:
        extra = state["extra_seconds"]
        more_steps = max(1, round(extra / (state["sft_seconds"] / state["sft_steps"])))
        more, _ = train("more-sft", preset.with_updates(start_from=sft, max_steps=more_steps, num_epochs=1.0))
        state["baseline"] = score(f"more SFT ({more_steps} steps, {extra:.0f} s)", more).exact_rows()
        state_file.write_text(json.dumps(state))
    print(
        f"held-out exact: SFT {state['before']}/{args.validation}, more SFT {state['baseline']}/{args.validation}",
        flush=True,
    )
    return {name: rows - state["baseline"] for name, rows in gains.items()}


def first_steps(args, preset) -> dict:
    """Import the file with its held-out rows, train SFT for an epoch and score it, build the pairs."""
    from workbench import paths
    from workbench.data import formats, repository
    from workbench.data.split import SplitSpec
    from workbench.models import catalog

    prepared = ROOT / "models" / args.base  # the checkout's prepared copy, linked rather than fetched again
    if prepared.is_dir():
        paths.models_dir().mkdir(parents=True, exist_ok=True)
        (paths.models_dir() / args.base).symlink_to(prepared, target_is_directory=True)
    elif args.base != "demo" and not Path(args.base).is_dir():
        catalog.prepare(args.base)
    rows = formats.parse(args.data.read_bytes(), args.data.name).rows
    repository.create_dataset("task", "alpaca", [row.data for row in rows])
    repository.make_split("task", 1, SplitSpec(seed=args.seed, validation_count=args.validation))

    sft, sft_seconds = train("sft", preset.with_updates(num_epochs=args.sft_epochs))
    before = score("sft", sft).exact_rows()
    started = time.perf_counter()
    pairs = build_pairs(sft)
    pair_seconds = time.perf_counter() - started
    print(f"pairs: {pairs} from the training rows in {pair_seconds:.0f} s", flush=True)
    steps = final(sft)["steps"]
    return {"sft": sft, "sft_seconds": sft_seconds, "sft_steps": steps, "before": before, "pair_seconds": pair_seconds}


def _setting(item: str) -> tuple[str, object]:
    key, _, value = item.partition("=")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def train(label: str, config) -> tuple[str, float]:
    from workbench.training import runs
    from workbench.training.worker import run_training

    run_id = runs.create_run(config, name=f"{label}-{int(time.time())}")
    started = time.perf_counter()
    status = run_training(run_id, schedule_next=False)
    seconds = time.perf_counter() - started
    run = runs.get_run(run_id)
    if status != "completed":
        raise SystemExit(f"{label} {status}: {run['error']}")
    print(f"{label:10} trained in {seconds:6.0f} s, {final(run['name'])['steps']} steps", flush=True)
    return run["name"], seconds


def final(run_name: str) -> dict:
    from workbench.training import runs

    run = runs.get_run(run_name)
    return json.loads((Path(os.environ["WORKBENCH_HOME"]) / run["adapter_dir"] / "workbench_run.json").read_text())[
        "final_metrics"
    ]


def score(label: str, run_name: str):
    from workbench.evaluation.quality import score_adapter
    from workbench.training import runs

    run = runs.get_run(run_name)
    result = score_adapter(run_name, Path(os.environ["WORKBENCH_HOME"]) / run["adapter_dir"])
    f1 = f"{result.field_f1:.3f}" if result.field_f1 is not None else "—"
    valid = f"{result.json_valid:.2f}" if result.json_valid is not None else "—"
    print(
        f"{label:10} held-out exact {result.exact_rows()}/{result.rows}  field F1 {f1}  valid JSON {valid}",
        flush=True,
    )
    return result


def build_pairs(sft: str) -> int:
    from workbench.prediction import job as predictions
    from workbench.prediction import mistakes
    from workbench.training import runs

    job_id = mistakes.answer_training_rows(runs.get_run(sft)["id"], start=False)
    if predictions.run_predict(job_id, echo=False) != "completed":
        raise SystemExit(f"answering the training rows failed: {predictions.get_job(job_id)['error']}")
    candidates = mistakes.prediction_candidates(job_id)
    found = mistakes.mistakes(candidates, mistakes.MistakeFilter())
    print(mistakes.describe(candidates, mistakes.MistakeFilter()), flush=True)
    mistakes.save_pairs("pairs", found, f"bench: {sft}'s mistakes")
    return len(found)


def speed_round(home: str) -> float:
    results = {}
    for who in ("trl", "workbench"):
        done = subprocess.run(
            [sys.executable, __file__, "--speed-child", who, home], cwd=ROOT, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise SystemExit(f"{who} speed run failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        results[who] = json.loads(done.stdout.strip().splitlines()[-1])
        r = results[who]
        print(
            f"{who:10} DPO, one epoch over {r['pairs']} pairs: {r['tokens_per_second']:7.1f} tokens/s, "
            f"{r['seconds']:6.1f} s, peak memory {r['peak_gb']:.2f} GB ({r['settings']})",
            flush=True,
        )
    return results["workbench"]["tokens_per_second"] / results["trl"]["tokens_per_second"]


def speed_child(who: str, home: str) -> int:
    """One epoch of DPO over the pairs in this process; prints a JSON line of tokens/s and peak memory."""
    os.environ["WORKBENCH_HOME"] = home
    from workbench.data import repository
    from workbench.models.loading import load_tokenizer
    from workbench.training import runs

    sft = next(r for r in runs.list_runs() if r["name"].startswith("sft-"))
    base = sft["base_model"]
    pairs = repository.read_revision_rows(repository.get_revision("pairs"))
    tokenizer = load_tokenizer(base)
    tokens = sum(
        len(
            tokenizer.apply_chat_template(
                [*row["prompt"], {"role": "assistant", "content": row[side]}], tokenize=True, return_dict=False
            )
        )
        for row in pairs
        for side in ("chosen", "rejected")
    )
    if who == "workbench":
        seconds, settings = _workbench_dpo(sft)
    else:
        seconds, settings = _trl_dpo(base, pairs, tokenizer)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KiB on Linux
    result = {"pairs": len(pairs), "seconds": seconds, "tokens_per_second": tokens / seconds}
    print(json.dumps({**result, "peak_gb": peak, "settings": settings}))
    return 0


def _workbench_dpo(sft: dict) -> tuple[float, str]:
    from workbench.training import runs
    from workbench.training.config import NO_TASK_CHECKS, cpu_preset
    from workbench.training.worker import run_training

    config = cpu_preset().with_updates(
        dataset="pairs",
        base_model=sft["base_model"],
        objective="dpo",
        num_epochs=1.0,
        auto_evaluate=False,
        **NO_TASK_CHECKS,
    )
    run_id = runs.create_run(config, name=f"speed-dpo-{int(time.time())}")
    if run_training(run_id, schedule_next=False) != "completed":
        raise SystemExit(runs.get_run(run_id)["error"])
    return final(runs.get_run(run_id)["name"])["runtime_seconds"], "the app's CPU preset, a new adapter"


def _trl_dpo(base: str, pairs: list[dict], tokenizer) -> tuple[float, str]:
    """TRL's documented path: DPOConfig defaults and a default LoraConfig; on a CPU, `use_cpu=True`, the one
    change DPOConfig's own error asks for (its bf16 default then runs as CPU autocast)."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM
    from trl import DPOConfig, DPOTrainer

    from workbench.models.loading import resolve_base

    rows = [
        {
            "prompt": row["prompt"],
            "chosen": [{"role": "assistant", "content": row["chosen"]}],
            "rejected": [{"role": "assistant", "content": row["rejected"]}],
        }
        for row in pairs
    ]
    model = AutoModelForCausalLM.from_pretrained(resolve_base(base), dtype=torch.float32)
    cpu = not torch.cuda.is_available()
    args = DPOConfig(
        output_dir=tempfile.mkdtemp(), num_train_epochs=1, report_to="none", save_strategy="no", use_cpu=cpu
    )
    trainer = DPOTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=LoraConfig(task_type="CAUSAL_LM"),
    )
    result = trainer.train()
    precision = "bf16" if args.bf16 else "fp32"
    settings = f"DPOConfig defaults{' + use_cpu' if cpu else ''}: batch {args.per_device_train_batch_size}, {precision}"
    return result.metrics["train_runtime"], settings


if __name__ == "__main__":
    sys.exit(main())
