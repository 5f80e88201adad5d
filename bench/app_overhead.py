"""What the served app costs a training run: the same short run with no app, then with the app open.

    .venv/bin/python bench/app_overhead.py [--steps 20] [--base NAME] [--page experiments]

As a user runs it: the workspace lies inside the checkout (the default WORKBENCH_HOME is the checkout, so the
server's folder holds .venv, .cache and the workspace), the server is started the way `make run` starts it
(the repository's .streamlit/config.toml), and one page in Debian's headless Chromium shows the Train page's
live view for the whole run (`--page experiments`: the run is a one-run sweep and the page its Experiments
table, live). The run is the CPU preset, `max_steps` steps, started from the CLI both times. Printed: the
trainer's own training time and tokens/s for both runs and their ratio, the server's CPU seconds per minute of
the run (and the browser's, for the record), and the first render of every page with the app warm. Goals: the
run with the app open within 5 % of the run without it, the server under 5 % of one core, every page rendered
in under 1.5 s."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from statistics import median

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGES = {
    "Start": "",
    "Datasets": "datasets",
    "Train": "train",
    "Runs": "runs",
    "Compare": "compare",
    "Models": "models",
    "Publish": "publish",
    "Experiments": "experiments",
}
HEADINGS = {"Start": "LoRA Workbench"}  # a page's title where it is not its name in the navigation
GOALS = {"slowdown": 1.05, "server_core_share": 0.05, "render_seconds": 1.5}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=2, help="pairs of runs (no app, app open); medians shown")
    parser.add_argument("--base", help="default: smollm2-135m-instruct when prepared, else demo")
    parser.add_argument(
        "--page", choices=("train", "experiments"), default="train", help="the page open while the run trains"
    )
    parser.add_argument(
        "--file-watcher",
        help="serve with this server.fileWatcherType instead of the config's "
        "('auto' shows what the watcher used to cost)",
    )
    args = parser.parse_args()
    home = ROOT / ".cache" / "bench-app-home"  # inside the served folder, as the default workspace is
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    env = {**os.environ, "WORKBENCH_HOME": str(home), "HF_HUB_OFFLINE": "1", "OLLAMA_HOST": "http://127.0.0.1:9"}
    base = link_base(args.base, home, env)
    print(
        f"base {base}, {args.steps} steps, workspace {home}, {os.cpu_count()} CPU cores, file watcher "
        f"{args.file_watcher or 'as configured'}, page open: {args.page}",
        flush=True,
    )

    pairs, renders = [], {}
    for attempt in range(args.repeat):  # alternated, so that a busy minute does not favour one side
        alone = train(base, args.steps, env, f"no-app-{attempt}", args.page)
        print(
            f"without the app   {alone['train_seconds']:7.1f} s training  {alone['tokens_per_second']:7.1f} tok/s",
            flush=True,
        )
        with serve(env, args.file_watcher) as (url, server_pid), browser() as page:
            if not renders:
                renders = first_renders(page, url)
            figures, server_cpu, browser_cpu, minutes = train_with_page_open(
                page, url, base, args.steps, env, server_pid, f"with-app-{attempt}", args.page
            )
        print(
            f"with the app open {figures['train_seconds']:7.1f} s training  {figures['tokens_per_second']:7.1f} "
            f"tok/s   server {server_cpu / minutes:.2f} s/min, browser {browser_cpu / minutes:.2f} s/min",
            flush=True,
        )
        pairs.append((alone["train_seconds"], figures["train_seconds"], server_cpu / minutes, browser_cpu / minutes))

    alone_s, app_s, server_per_minute, browser_per_minute = (median(column) for column in zip(*pairs, strict=True))
    slowdown = app_s / alone_s
    server_share = server_per_minute / 60
    print(f"\nmedians of {len(pairs)}: without the app {alone_s:.1f} s, with the app open {app_s:.1f} s of training")
    print(f"slowdown {slowdown:.3f}x (goal <= {GOALS['slowdown']:.2f}x)")
    print(
        f"server CPU  {server_per_minute:5.2f} s per minute = {server_share:6.1%} of one core "
        f"(goal < {GOALS['server_core_share']:.0%})"
    )
    print(
        f"browser CPU {browser_per_minute:5.2f} s per minute = {browser_per_minute / 60:6.1%} of one core "
        "(the page's own rendering, for the record)"
    )
    print("\nfirst render, app warm (cold: the first visit after the server started)")
    for name, (cold, warm) in renders.items():
        print(f"  {name:9} {warm:5.2f} s   (cold {cold:5.2f} s)")
    worst = max(warm for _, warm in renders.values())
    ok = slowdown <= GOALS["slowdown"] and server_share < GOALS["server_core_share"] and worst < GOALS["render_seconds"]
    print(
        f"\napp_slowdown={slowdown:.3f} server_core_share={server_share:.3f} "
        f"worst_render_s={worst:.2f} goals={'ok' if ok else 'MISSED'}"
    )
    return 0


def link_base(base: str | None, home: Path, env: dict) -> str:
    smollm2 = ROOT / "models" / "smollm2-135m-instruct"
    if base is None:
        base = "smollm2-135m-instruct" if (smollm2 / "config.json").is_file() else "demo"
    (home / "models").mkdir()
    if (ROOT / "models" / base).is_dir():
        (home / "models" / base).symlink_to(ROOT / "models" / base, target_is_directory=True)
    elif base == "demo":
        subprocess.run(
            [sys.executable, "-m", "workbench", "demo-model"], cwd=ROOT, env=env, check=True, capture_output=True
        )
    return base


def start_run(base: str, steps: int, env: dict, name: str, wait: bool, page: str) -> str:
    """Start the run from the CLI; its name. For the Experiments page, a one-run sweep named `name`."""
    common = [sys.executable, "-m", "workbench", "train", "--dataset", "informes-proyectos", "--base", base]
    if page == "experiments":
        command, run_name = [*common, "--sweep", f"max_steps={steps}", "--experiment", name], f"{name}-01"
    else:
        command, run_name = [*common, "--name", name, "--set", f"max_steps={steps}"], name
    command += ["--set", "auto_evaluate=false", *(["--wait"] if wait else [])]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"training {name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return run_name


def train(base: str, steps: int, env: dict, name: str, page: str) -> dict:
    return trainer_figures(env, start_run(base, steps, env, name, wait=True, page=page))


def trainer_figures(env: dict, name: str) -> dict:
    record = json.loads((Path(env["WORKBENCH_HOME"]) / "adapters" / name / "workbench_run.json").read_text())
    final = record["final_metrics"]
    tokens = final["tokens_seen"]
    return {"tokens_per_second": final["tokens_per_second"], "train_seconds": tokens / final["tokens_per_second"]}


def train_with_page_open(page, url: str, base: str, steps: int, env: dict, server_pid: int, name: str, shown: str):
    """Start the run, show it live on the Train (or Experiments) page until it completes; the server's and
    browser's CPU."""
    server = psutil.Process(server_pid)
    browsers = chromium_processes()
    before_server, before_browser = cpu_seconds([server]), cpu_seconds(browsers)
    started = time.monotonic()
    run_name = start_run(base, steps, env, name, wait=False, page=shown)
    if shown == "experiments":
        page.goto(f"{url}/experiments?experiment={name}")
        page.get_by_text(run_name).first.wait_for(timeout=60_000)
    else:
        page.goto(f"{url}/train")
        page.get_by_text("Live", exact=True).wait_for(timeout=60_000)
    adapter = Path(env["WORKBENCH_HOME"]) / "adapters" / run_name / "workbench_run.json"
    while not adapter.exists():
        if time.monotonic() - started > 3600:
            raise SystemExit("the run with the app open did not finish within an hour")
        time.sleep(1)
    minutes = (time.monotonic() - started) / 60
    server_cpu = cpu_seconds([server]) - before_server
    browser_cpu = cpu_seconds(chromium_processes()) - before_browser
    return trainer_figures(env, run_name), server_cpu, browser_cpu, minutes


def first_renders(page, url: str) -> dict[str, tuple[float, float]]:
    """Per page, (the first visit after the server started, a later one with the app warm): seconds from the
    click on its link in the sidebar (how a user moves between pages) to its title with the script done."""
    page.goto(url)
    page.get_by_role("heading", name=HEADINGS["Start"], exact=True).first.wait_for(timeout=120_000)
    times: dict[str, list[float]] = {name: [] for name in PAGES}
    for _ in range(2):
        for name in [*list(PAGES)[1:], list(PAGES)[0]]:
            times[name].append(render(page, name))
    return {name: (cold, warm) for name, (cold, warm) in times.items()}


def render(page, title: str) -> float:
    started = time.perf_counter()
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title, exact=True).click()
    page.get_by_role("heading", name=HEADINGS.get(title, title), exact=True).first.wait_for(timeout=60_000)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    return time.perf_counter() - started


@contextmanager
def serve(env: dict, file_watcher: str | None):
    """The app served as `make run` serves it (the repository's .streamlit/config.toml): (url, pid)."""
    port = free_port()
    extra = ["--server.fileWatcherType", file_watcher] if file_watcher else []
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            *extra,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url)
        yield url, server.pid
    finally:
        server.terminate()
        server.wait(timeout=20)


class browser:
    def __enter__(self):
        from playwright.sync_api import sync_playwright

        if not Path(CHROMIUM).exists():
            raise SystemExit(f"{CHROMIUM} is missing: apt-get install chromium (make test does it).")
        self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = self._browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        return page

    def __exit__(self, *exc):
        self._browser.close()
        self._playwright.stop()


def chromium_processes() -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["name", "exe"]):
        if "chrom" in (process.info["name"] or "") or "chrom" in (process.info["exe"] or ""):
            found.append(process)
    return found


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("streamlit did not start within 90 s")


if __name__ == "__main__":
    raise SystemExit(main())
