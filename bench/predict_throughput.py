"""Predict over a file: the workbench's `predict` against a plain transformers `generate` loop, one row at a time.

    .venv/bin/python bench/predict_throughput.py [--data bench/data/tickets-soporte.jsonl] [--rows 200]
        [--base smollm2-135m-instruct] [--max-new-tokens 128] [--epochs 1] [--home DIR --run RUN]

In a scratch WORKBENCH_HOME it imports the file, trains an adapter on it with the CPU preset (`--epochs`
of them, 1 by default: the point is an adapter that answers in the task's shape, not its best score; or
give `--home` and `--run` of one trained before), then answers the file's first `--rows` rows twice, each
timed from its own process start as a user runs it:

- the workbench: `python -m workbench predict RUN FILE --out OUT.jsonl` (batched rows, KV cache, each row
  stopping at its end-of-turn token);
- the user's alternative: the same base and adapter loaded with transformers and PEFT, `model.generate`
  greedy on one row at a time, the same prompt rendering, answer length and stop tokens.

Printed: rows/s of each (whole process, and generation alone), the ratio, how many answers are identical,
and each one's exact match and field F1 against the file's answers. The last line ends with
`quality_parity=ok|FAIL`: ok when the workbench's exact match is within one row of the loop's.
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
sys.path.insert(0, str(ROOT))


def run(label: str, command: list[str], env: dict) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{label} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    print(f"{label:12} {seconds:8.1f} s", flush=True)
    return seconds


def workbench(*args: str) -> list[str]:
    return [sys.executable, "-m", "workbench", *args]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / "data" / "tickets-soporte.jsonl")
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--base", default="smollm2-135m-instruct")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--home", help="a workspace holding --run (skips import and training)")
    parser.add_argument("--run", help="a trained run in --home")
    parser.add_argument("--loop-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loop_child:
        return loop_child(*args.loop_child)
    home = args.home or tempfile.mkdtemp(prefix="wb-predict-")
    env = {**os.environ, "WORKBENCH_HOME": home}
    print(f"workspace {home}, {os.cpu_count()} CPU cores, base {args.base}, file {args.data.name}, {args.rows} rows")
    run_name = args.run or train_adapter(args, env)
    inputs = Path(home) / "inputs.jsonl"
    rows = args.data.read_text().splitlines()[: args.rows]
    inputs.write_text("\n".join(rows) + "\n")

    out = Path(home) / "workbench-answers.jsonl"
    ours = run(
        "workbench",
        workbench("predict", run_name, str(inputs), "--out", str(out), "--max-new-tokens", str(args.max_new_tokens)),
        env,
    )
    loop_out = Path(home) / "loop-answers.jsonl"
    theirs = run(
        "plain loop",
        [sys.executable, __file__, "--loop-child", run_name, str(inputs), str(loop_out), str(args.max_new_tokens)],
        env,
    )
    report(len(rows), ours, theirs, out, loop_out, env)
    return 0


def train_adapter(args, env: dict) -> str:
    if not Path(args.base).is_dir() and args.base != "demo":
        run("prepare", workbench("models", "get", args.base), env)
    name = args.data.stem
    run("import", workbench("datasets", "import", str(args.data.resolve()), "--name", name, "--no-split"), env)
    run_name = f"predict-bench-{int(time.time())}"
    settings = ["--set", f"num_epochs={args.epochs}", "--set", "auto_evaluate=false"]
    train = ["train", "--dataset", name, "--base", args.base, "--name", run_name, *settings, "--wait"]
    run("train", workbench(*train), env)
    return run_name


def report(rows: int, ours: float, theirs: float, out: Path, loop_out: Path, env: dict) -> None:
    from workbench import metrics

    answers = [json.loads(line) for line in out.read_text().splitlines()]
    loop = [json.loads(line) for line in loop_out.read_text().splitlines()]
    job_rate = _job_rate(env)
    loop_rate = rows / loop[-1]["generation_seconds"]
    same = sum(a["output"] == b["output"] for a, b in zip(answers, loop, strict=True))
    exact = {
        who: sum(metrics.exact_match(a["output"], a["reference"]) for a in items)
        for who, items in (("workbench", answers), ("loop", loop))
    }
    f1 = {
        who: _mean([metrics.json_scores(a["output"], a["reference"]).get("field_f1") for a in items])
        for who, items in (("workbench", answers), ("loop", loop))
    }
    print(f"rows/s, whole process: workbench {rows / ours:.3f}, loop {rows / theirs:.3f}  ratio {theirs / ours:.2f}x")
    print(f"rows/s, generation:    workbench {job_rate:.3f}, loop {loop_rate:.3f}  ratio {job_rate / loop_rate:.2f}x")
    print(f"identical answers: {same}/{rows}")
    print(f"exact match: workbench {exact['workbench']:.0f}/{rows}, loop {exact['loop']:.0f}/{rows}")
    print(f"field F1:    workbench {f1['workbench']:.3f}, loop {f1['loop']:.3f}")
    parity = "ok" if exact["workbench"] >= exact["loop"] - 1 else "FAIL"
    print(
        f"speed_vs_loop={theirs / ours:.2f} generation_speed_vs_loop={job_rate / loop_rate:.2f} "
        f"identical={same}/{rows} quality_parity={parity}"
    )


def _job_rate(env: dict) -> float:
    """rows/s of the prediction job's generation (its own progress, model loading left out)."""
    os.environ["WORKBENCH_HOME"] = env["WORKBENCH_HOME"]
    from workbench.jobs import registry

    [job] = registry.list_jobs(kind="predict", limit=1)
    return float(registry.progress(job)["rows_per_second"])


def _mean(values: list) -> float:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else 0.0


def loop_child(run_name: str, inputs: str, out: str, max_new_tokens: str) -> int:
    """The user's alternative: transformers and PEFT, greedy `generate`, one row at a time."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from workbench.data.records import prompt_and_reference
    from workbench.models.loading import resolve_base
    from workbench.training import runs

    run = runs.get_run(run_name)
    adapter = str(Path(os.environ["WORKBENCH_HOME"]) / run["adapter_dir"])
    tokenizer = AutoTokenizer.from_pretrained(adapter)
    model = AutoModelForCausalLM.from_pretrained(resolve_base(run["base_model"]), dtype=torch.float32)
    model = PeftModel.from_pretrained(model, adapter).eval()
    system = runs.run_config(run).system_prompt
    stops = [tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.eos_token_id]
    answers, started = [], time.perf_counter()
    for line in Path(inputs).read_text().splitlines():
        row = json.loads(line)
        messages, reference = prompt_and_reference(row, "chat" if "messages" in row else "alpaca")
        if system and not any(m["role"] == "system" for m in messages):
            messages = [{"role": "system", "content": system}, *messages]
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            generated = model.generate(
                **ids, max_new_tokens=int(max_new_tokens), do_sample=False, eos_token_id=stops, pad_token_id=stops[-1]
            )
        text = tokenizer.decode(generated[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
        answers.append({"output": text, "reference": reference})
    seconds = time.perf_counter() - started
    answers[-1]["generation_seconds"] = seconds
    Path(out).write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in answers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
