"""The live view of one run: progress with ETA, loss/eval-loss, learning rate, speed, memory, log tail.

It polls the registry every few seconds inside a fragment while the run is active, and stops polling
when the run ends (one full rerun then shows the final state without a timer). Each poll reads only
the metric rows written since the last one (the rows already read are kept in the session).
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from ui.logs import show_log
from workbench import paths
from workbench.jobs import queue, registry
from workbench.training import runs
from workbench.training.config import TASK_METRICS
from workbench.training.rewards import REWARDS
from workbench.training.samples import read_samples

# Every poll redraws the charts in the browser, which shares the CPU with the trainer: on 2 cores a 2 s poll
# cost the run 5-20 % (bench/app_overhead.py). A CPU step takes seconds anyway.
POLL = "5s"
STATUS_ICONS = {
    "queued": ":material/schedule:",
    "running": ":material/play_circle:",
    "cancelling": ":material/pending:",
    "cancelled": ":material/cancel:",
    "completed": ":material/check_circle:",
    "failed": ":material/error:",
    "interrupted": ":material/warning:",
    "imported": ":material/download:",
}


def live_run(run_id: int) -> None:
    run = runs.get_run(run_id)
    active = run["status"] in registry.ACTIVE
    st.fragment(run_every=POLL if active else None)(_body)(run_id, active)


def _body(run_id: int, polling: bool) -> None:
    runs.mark_interrupted()
    run = runs.get_run(run_id)
    if polling and run["status"] not in registry.ACTIVE:
        st.rerun()  # the run ended: one full rerun draws the final state and stops the timer
    if run["status"] == "queued":
        runs.schedule()
    _header(run)
    metrics, version = _metrics(run)
    if metrics.empty and run["status"] == "queued":
        job = registry.get(run["job_id"])
        st.caption(f"Queued: {queue.waiting_for(job)}. It starts by itself.")
    elif metrics.empty:
        st.caption(
            f"No metrics yet: {runs.run_progress(run).get('phase') or 'starting'} (the worker loads the "
            "model and the data first)…"
        )
    else:
        _charts(cache_key(run), metrics, version)
    if runs.run_config(run).objective == "grpo":
        flat_groups_hint(metrics)
        samples_table(run["name"])
    log = paths.run_dir(run["name"]) / runs.LOG_FILE
    show_log(
        "Log (last lines)", runs.log_tail(run["name"], lines=200).splitlines(), log, expanded=run["status"] == "failed"
    )


FLAT_STEPS = 5  # the latest steps the hint below looks at


def flat_groups_hint(metrics: pd.DataFrame) -> None:
    """Say so when nearly every group's answers scored alike lately: GRPO then has nothing to learn from."""
    if metrics.empty:
        return
    flat = metrics[metrics["name"] == "frac_reward_zero_std"]["value"].tail(FLAT_STEPS)
    if len(flat) == FLAT_STEPS and flat.mean() >= 0.8:
        st.info(
            f"In the last {FLAT_STEPS} steps, {flat.mean():.0%} of the groups had every answer scored alike: GRPO "
            "learns only from differences within a group, so these steps taught little. Usual causes: the adapter "
            "already answers these prompts right (see the samples), or its answers are all wrong the same way. "
            "Try a higher temperature, more answers per prompt, or start from an earlier run.",
            icon=":material/info:",
        )


def samples_table(run_name: str) -> None:
    """The latest group(s) of sampled answers with their rewards: what GRPO is reinforcing right now. Answers
    are shown as text in a table, never rendered as Markdown or HTML."""
    samples = read_samples(run_name)
    if not samples:
        st.caption("Sampled answers appear here after the first GRPO step.")
        return
    st.markdown(f"**Sampled answers at step {samples['step']}** (a group per prompt; higher reward is reinforced)")
    rows = [
        {
            "group": sample["group"],
            "prompt": sample["prompt"],
            "answer": sample["answer"],
            "reward": sample["reward"],
            **{REWARDS[n].label if n in REWARDS else n: sample["rewards"].get(n) for n in samples["rewards"]},
        }
        for sample in samples["samples"]
    ]
    # The text columns kept narrow (a cell shows it whole on hover): the rewards stay in view without scrolling.
    narrow = {name: st.column_config.TextColumn(width="medium") for name in ("prompt", "answer")}
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", column_config=narrow)


def cache_key(run: dict) -> str:
    """What the session keeps a run's rows under: its id and creation time (a deleted run's id can come back)."""
    return f"{run['id']}@{run['created']}"


def _metrics(run: dict) -> tuple[pd.DataFrame, int]:
    """(all metric rows of the run, the last rowid): reads from the registry only the rows added since the
    last poll."""
    seen = st.session_state.setdefault("live_metrics", {}).setdefault(cache_key(run), {"rowid": 0, "rows": []})
    new = runs.run_metrics_after(run["id"], seen["rowid"])
    if new:
        seen["rows"].extend(new)
        seen["rowid"] = new[-1]["rowid"]
    frame = pd.DataFrame(seen["rows"])
    if not frame.empty:
        frame = frame.sort_values(["step", "rowid"], kind="stable")
    return frame, seen["rowid"]


def _header(run: dict) -> None:
    progress = runs.run_progress(run)
    st.markdown(f"{STATUS_ICONS.get(run['status'], '')} **{run['name']}** — {run['status']}")
    step, total = progress.get("step") or 0, progress.get("max_steps") or 0
    if total:
        eta = progress.get("eta_seconds")
        eta_text = f" · about {_duration(eta)} left" if eta and run["status"] == "running" else ""
        st.progress(
            min(step / total, 1.0), text=f"Step {step} of {total} · epoch {progress.get('epoch', 0):.2f}{eta_text}"
        )
    elif run["status"] == "running":
        st.progress(0.0, text=f"{progress.get('phase', 'starting').capitalize()}…")
    if run["status"] == "running" and progress.get("phase") == "checking answers":
        st.caption(":material/fact_check: Checking its answers on held-out rows (training goes on after).")
    if run["status"] == "cancelling":
        st.info(cancelling_note(progress), icon=":material/pending:")
    if run["status"] == "failed" and run.get("error"):
        st.error(run["error"].split("\n\n")[0], icon=":material/error:")
    elif run["status"] == "interrupted":
        st.warning(run.get("error") or "Interrupted.", icon=":material/warning:")
    if run["status"] == "completed" and run.get("adapter_dir"):
        st.success(f"Adapter saved in `{run['adapter_dir']}`", icon=":material/check_circle:")
    elif run["status"] == "cancelled" and run.get("adapter_dir"):
        st.info(
            f"Cancelled; the adapter as trained so far is kept in `{run['adapter_dir']}`: compare, evaluate or "
            "publish it like any other, or resume the run.",
            icon=":material/save:",
        )
    if run["status"] == "imported":
        source = run["job_args"].get("external")
        st.info(f"Imported from `{source}` into `{run['adapter_dir']}`: trained elsewhere.", icon=":material/download:")
    reason = runs.training_outcome(run).get("stopped_because")
    if reason and run["status"] in registry.TERMINAL:
        st.caption(f"Why it stopped: {reason}.")


def cancelling_note(progress: dict) -> str:
    """What a cancel waits for: the step under way (or the evaluation pass), then the adapter's save."""
    per_step = progress.get("seconds_per_step")
    if progress.get("phase") == "evaluating":
        waiting = "the evaluation pass under way (it is not interrupted midway)"
    elif per_step:
        about = "under a second" if per_step < 1 else f"about {_duration(per_step)}"  # "about 0 s" read as broken
        waiting = f"the current step (a step takes {about} on this machine)"
    else:
        waiting = "the current step"
    return (
        f"Stopping after {waiting}, then saving the adapter. A step is never cut short, so on a busy CPU this "
        "can take a while; the status changes by itself when it has stopped."
    )


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


CHARTS = (
    ("Loss", ("loss", "eval_loss"), "name"),
    # Stop when good: the share of held-out answers right (or their score) at each check.
    ("Held-out answers (checks)", tuple(f"task/{m}" for m in TASK_METRICS if m not in ("off", "auto")), "name"),
    ("Learning rate", ("learning_rate",), None),
    ("Tokens per second", ("tokens_per_second",), None),
    ("GPU memory (GB)", ("gpu_memory_gb",), None),
    # What the preference trainers log (DPO, ORPO, KTO): the implicit rewards of chosen and rejected answers,
    # their margin, and how often the chosen one wins; KTO's KL estimate.
    ("Rewards", ("rewards/chosen", "rewards/rejected", "rewards/margins"), "name"),
    ("Reward accuracy", ("rewards/accuracies", "eval_rewards/accuracies"), "name"),
    ("KL from the reference", ("kl",), None),
    # What GRPO logs: the mean reward and each reward's mean, their spread (over the batch, and within each
    # prompt's group: 0 there means nothing to learn), and the sampled answers' length.
    ("Reward (GRPO)", ("reward", *(f"rewards/{name}/mean" for name in REWARDS)), "name"),
    ("Reward spread", ("reward_std", "reward_group_std"), "name"),
    ("Sampled answer length (tokens)", ("completions/mean_length",), None),
)


def _charts(key: str, metrics: pd.DataFrame, version: int) -> None:
    """The run's charts, two a row. Their Vega-Lite specs are built (and validated by Altair) only when new
    metric rows arrived: a poll with nothing new costs the server almost nothing."""
    cache = st.session_state.setdefault("live_chart_specs", {})
    if cache.get(key, (None,))[0] != version:
        specs = []
        for title, names, color in CHARTS:
            rows = metrics[metrics["name"].isin(names)]
            if "reward" in names:
                rows = with_moving_mean(rows, "reward", REWARD_WINDOW)
            if not rows.empty:
                specs.append(_line(rows, title, color=color).to_dict())
        cache[key] = (version, specs)
    specs = cache[key][1]
    for start in range(0, len(specs), 2):
        for column, spec in zip(st.columns(2), specs[start : start + 2], strict=False):
            column.vega_lite_chart(spec=spec, width="stretch")


# GRPO's reward at a step is one batch of prompts' (on a CPU, one prompt's): it follows which prompt came up more
# than what the adapter learnt (bench/README.md: two learning rates logged the same 0.325 at the same steps), so
# the chart adds its mean over the last steps, the line to read for a trend.
REWARD_WINDOW = 10


def with_moving_mean(frame: pd.DataFrame, name: str, window: int) -> pd.DataFrame:
    """`frame` plus the `name` series' mean over its last `window` steps, as the series "<name>, mean of <window>
    steps" (from the first step on, over the steps there are)."""
    series = frame[frame["name"] == name].sort_values("step")
    if len(series) < 2:
        return frame
    mean = series.assign(
        name=f"{name}, mean of {window} steps", value=series["value"].rolling(window, min_periods=1).mean()
    )
    return pd.concat([frame, mean], ignore_index=True)


MAX_POINTS = 1000  # per curve: a chart of a 20,000-step run stays light (and under Altair's 5,000-row limit)


def thinned(frame: pd.DataFrame, series: str | None) -> pd.DataFrame:
    """At most MAX_POINTS evenly spaced rows per curve, its first and last kept: the shape, not every step."""
    groups = [group for _, group in frame.groupby(series, sort=False)] if series else [frame]
    kept = []
    for group in groups:
        if len(group) > MAX_POINTS:
            stride = -(-len(group) // MAX_POINTS)
            group = pd.concat([group.iloc[::stride], group.iloc[[-1]]]).drop_duplicates()
        kept.append(group)
    return pd.concat(kept) if kept else frame


LEGEND_PAIR_CHARS = 20  # names up to this long sit two a row above a half-page chart
# A tick's label as written, not rounded to the tick step's precision: "~g" gave 6e+3 for 6,000 tokens/s, and
# Vega's own format gave a flat line's one tick as 0.250000.
TICK_LABEL = "abs(datum.value) >= 1000 ? format(datum.value, ',.0f') : format(datum.value, '.4~g')"


def _line(frame: pd.DataFrame, title: str, color: str | None = None) -> alt.Chart:
    frame = thinned(frame, color or ("name" if "name" in frame else None))
    chart = (
        alt.Chart(frame, title=title)
        .mark_line(point=len(frame) < 60)
        .encode(
            # Steps are whole: without a minimum step, a 5-step run gets ticks at 0.5, 1.5, ...
            x=alt.X("step:Q", title="step", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False), axis=alt.Axis(labelExpr=TICK_LABEL)),
            tooltip=["step", alt.Tooltip("epoch:Q", format=".2f"), "name", alt.Tooltip("value:Q", format=".4g")],
        )
    )
    if color:
        # Above the plot, whole, two short names a row: long series names (rewards/exact_match/mean) neither squeeze the
        # plot's width (beside it) nor its height (below it, the legend took most of the chart's fixed height).
        names = frame[color].astype(str).unique()
        columns = 2 if max(map(len, names), default=0) <= LEGEND_PAIR_CHARS else 1
        legend = alt.Legend(orient="top", direction="horizontal", columns=columns, labelLimit=0)
        chart = chart.encode(color=alt.Color(f"{color}:N", title=None, legend=legend))
    # The plot is 220 px high with the legend and axes added around it; "fit" (Streamlit's) squeezed the plot
    # into 220 px with them, down to a 10 px strip under a legend of two.
    return chart.properties(height=220, autosize=alt.AutoSizeParams(type="fit-x", contains="padding"))


def overlay_chart(run_ids: list[int], metric: str = "loss") -> alt.Chart | None:
    """The `metric` curves of several runs on one chart (the Runs page's comparison)."""
    frames = []
    for run_id in run_ids:
        rows = runs.run_metrics(run_id, (metric,))
        if rows:
            frame = pd.DataFrame(rows)
            frame["run"] = runs.get_run(run_id)["name"]
            frames.append(frame)
    if not frames:
        return None
    return _line(pd.concat(frames), metric.replace("_", " ").capitalize(), color="run")
