"""Does a GRPO round help? From an SFT run, GRPO against the task's own metrics, scored on the held-out rows,
against the same SFT adapter trained on for the same extra wall time; and a GRPO step's time against plain
TRL's GRPOTrainer at its documented defaults on the same prompts.

    .venv/bin/python bench/grpo_round.py --home HOME --sft RUN [--steps 30] [--set KEY=VALUE ...] [--limit 30]
    .venv/bin/python bench/grpo_round.py --base models/smollm2-135m-instruct [--import FILE.jsonl]

With `--home HOME --sft RUN` it starts from a finished SFT run of an earlier journey (bench/cpu_journey.py: its
held-out scores are read back, or scored first); without, it runs the journey's SFT step first. Everything goes
through the CLI as a user would (`train --set objective=grpo --set start_from=RUN --wait`, `eval`). Prints the
held-out table of the three adapters, the GRPO run's reward at the start and the end, its seconds per step,
and `trl_step_ratio` (plain TRL's seconds per step at its defaults / the workbench's, `--trl-steps 0` skips it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REWARDS = "field_f1:1,json_valid:0.5"


def cli(label: str, args: list[str], env: dict) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "workbench", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{label} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    print(f"{label:26} {seconds:8.1f} s", flush=True)
    return seconds


def scores(run_name: str, limit: int, env: dict) -> dict:
    """The adapter's held-out metrics (scored first when the run has none)."""
    from workbench.evaluation import results as eval_results
    from workbench.training import runs

    run = runs.get_run(run_name)
    if eval_results.latest_job(run["id"]) is None:
        cli(f"evaluate {run_name}", ["eval", run_name, "--split", "validation", "--limit", str(limit)], env)
    return {row["metric"]: row["adapter"] for row in eval_results.results(run["id"])}


def train_seconds(run_name: str) -> float:
    from workbench.training import runs

    return float(runs.training_outcome(runs.get_run(run_name)).get("runtime_seconds") or 0.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", help="an earlier journey's workspace (with --sft)")
    parser.add_argument("--sft", help="the finished SFT run of that workspace to start from")
    parser.add_argument("--pace-from", help="the SFT run whose seconds a step set the extra SFT (default: --sft)")
    parser.add_argument("--base", default="models/smollm2-135m-instruct")
    parser.add_argument("--dataset", default="informes-proyectos")
    parser.add_argument("--import", dest="import_file", type=Path)
    parser.add_argument("--limit", type=int, default=30, help="held-out rows scored")
    parser.add_argument("--rewards", default=REWARDS)
    parser.add_argument("--set", action="append", default=[], help="extra GRPO settings, KEY=VALUE")
    parser.add_argument("--trl-steps", type=int, default=2, help="steps of plain TRL's GRPOTrainer timed (0: skip)")
    parser.add_argument("--trl-child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--validation", type=int, default=30, help="held-out rows of a fresh split")
    parser.add_argument("--sft-set", action="append", default=[], help="settings of a fresh SFT run, KEY=VALUE")
    args = parser.parse_args(argv)
    if args.trl_child:
        return trl_child(*args.trl_child)
    home = args.home or tempfile.mkdtemp(prefix="wb-grpo-")
    env = {**os.environ, "WORKBENCH_HOME": home}
    os.environ["WORKBENCH_HOME"] = home
    sys.path.insert(0, str(ROOT))
    sft = args.sft or first_sft_run(args, env)
    from workbench.training import runs

    source = runs.get_run(sft)
    base = runs.run_config(source).base_model
    dataset = runs.run_config(source).dataset
    print(f"workspace {home}, {os.cpu_count()} CPU cores, base {base}, SFT run {sft} on {dataset}")
    before = scores(sft, args.limit, env)

    stamp = int(time.time())
    grpo = f"grpo-{stamp}"
    extra = [x for pair in args.set for x in ("--set", pair)]
    common = ["--dataset", dataset, "--base", base, "--set", "auto_evaluate=false"]
    grpo_wall = cli(
        "train GRPO",
        ["train", *common, "--name", grpo, "--set", "objective=grpo", "--set", f"start_from={sft}"]
        + ["--set", f"rewards={args.rewards}", *extra, "--wait"],
        env,
    )
    grpo_seconds = train_seconds(grpo)
    record = runs.get_run(grpo)
    steps = [m["value"] for m in runs.run_metrics(record["id"], ("reward",))]
    per_step = grpo_seconds / max(1, len(steps))
    print(f"GRPO: {len(steps)} steps, {grpo_seconds:.0f} s training ({per_step:.1f} s a step), wall {grpo_wall:.0f} s")
    if steps:
        head, tail = steps[: max(1, len(steps) // 5)], steps[-max(1, len(steps) // 5) :]
        print(f"reward: first fifth {sum(head) / len(head):.3f} -> last fifth {sum(tail) / len(tail):.3f}")
    print(f"stopped: {runs.training_outcome(record).get('stopped_because') or 'ran its steps'}")
    after = scores(grpo, args.limit, env)

    # SFT for the same extra time: its own seconds a step, measured by the SFT run
    pace = runs.get_run(args.pace_from or sft)
    sft_steps = max(1, len(runs.run_metrics(pace["id"], ("loss",))))
    more = max(1, round(grpo_seconds / (train_seconds(pace["name"]) / sft_steps)))
    more_sft = f"sft-more-{stamp}"
    cli(
        f"train SFT +{more} steps",
        ["train", *common, "--name", more_sft, "--set", f"start_from={sft}", "--set", f"max_steps={more}"]
        + ["--set", "task_metric=off", "--set", "stop_at=0", "--set", "stop_patience=0", "--wait"],
        env,
    )
    print(f"SFT on: {more} steps, {train_seconds(more_sft):.0f} s training")
    longer = scores(more_sft, args.limit, env)

    print(f"\n{'held-out':16} {'SFT':>8} {'+GRPO':>8} {'+SFT':>8}   ({args.limit} rows)")
    for metric in ("exact_match", "field_f1", "json_valid", "rouge_l"):
        cells = [row.get(metric) for row in (before, after, longer)]
        print(f"{metric:16} " + " ".join(f"{v:8.3f}" if isinstance(v, float) else f"{'—':>8}" for v in cells))
    gain, against_more = _rows(after, before, args.limit), _rows(after, longer, args.limit)
    summary = f"grpo_vs_sft={gain:+d} rows grpo_vs_more_sft={against_more:+d} rows"
    if args.trl_steps:
        trl_per_step = trl_step_seconds(sft, args.trl_steps, env)
        print(
            f"\nseconds a step: workbench GRPO {per_step:.1f} (its settings), plain TRL GRPOTrainer defaults "
            f"{trl_per_step:.1f}"
        )
        summary += f" trl_step_ratio={trl_per_step / per_step:.2f}"
    print(summary)
    return 0


def _rows(these: dict, those: dict, limit: int) -> int:
    """Held-out rows answered exactly by `these` minus by `those`."""
    return round(((these.get("exact_match") or 0.0) - (those.get("exact_match") or 0.0)) * limit)


def first_sft_run(args, env: dict) -> str:
    """The journey's SFT step: the CPU preset on the task, held-out split of 30 (seed 42)."""
    if not Path(args.base).is_dir():
        cli("prepare", ["models", "get", args.base], env)
    dataset = args.dataset
    if args.import_file:
        dataset = args.import_file.stem
        cli("import", ["datasets", "import", str(args.import_file.resolve()), "--name", dataset], env)
    cli("split", ["datasets", "split", dataset, "--count", str(args.validation), "--seed", "42"], env)
    name = f"sft-{int(time.time())}"
    settings = [x for pair in ["auto_evaluate=false", *args.sft_set] for x in ("--set", pair)]
    cli("train SFT", ["train", "--dataset", dataset, "--base", args.base, "--name", name, *settings, "--wait"], env)
    return name


def trl_step_seconds(sft: str, steps: int, env: dict) -> float:
    """Seconds a step of plain TRL's GRPOTrainer at its defaults, from the same SFT adapter, on the same prompts."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--trl-child", sft, str(steps)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"plain TRL failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"plain TRL GRPO {steps} steps  {time.perf_counter() - started:8.1f} s wall: {result['settings']}")
    return result["seconds"] / steps


def trl_child(sft: str, steps: str) -> int:
    """Plain TRL as its docs show it: GRPOConfig's defaults (8 generations, 512 tokens, beta 0, lr 1e-6), the
    model with the SFT adapter, the same reward functions; only bf16 off (a CPU) and max_steps set."""
    sys.path.insert(0, str(ROOT))
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from workbench import paths
    from workbench.jobs.worker import quiet_libraries
    from workbench.models.loading import resolve_base
    from workbench.training import rewards, runs
    from workbench.training.objectives import build_datasets

    quiet_libraries()
    source = runs.get_run(sft)
    config = runs.run_config(source).with_updates(objective="grpo", rewards=REWARDS)
    train_ds, _, _ = build_datasets(config, source["dataset_revision_id"])
    base = resolve_base(config.base_model)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base)
    model = PeftModel.from_pretrained(model, str(paths.home() / source["adapter_dir"]), is_trainable=True)
    functions, weights = rewards.reward_functions(REWARDS, rewards.RewardSettings())
    args = GRPOConfig(
        output_dir=str(Path(tempfile.mkdtemp(prefix="trl-grpo-"))),
        max_steps=int(steps),
        bf16=False,
        use_cpu=True,
        report_to="none",
        reward_weights=weights,
        save_strategy="no",
    )
    trainer = GRPOTrainer(
        model=model, reward_funcs=functions, args=args, train_dataset=train_ds, processing_class=tokenizer
    )
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    settings = (
        f"num_generations {args.num_generations}, max_completion_length {args.max_completion_length}, "
        f"batch {args.per_device_train_batch_size}, beta {args.beta}, loss {args.loss_type}, "
        f"gradient_checkpointing {args.gradient_checkpointing}"
    )
    print(json.dumps({"seconds": seconds, "settings": settings}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
