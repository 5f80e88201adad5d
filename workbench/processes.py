"""Detached worker processes: start one with its log, and tell whether one is still alive.

Job workers (workbench/jobs) run in their own session (`start_new_session=True`) so closing the app does
not stop them; the registry keeps their pid, and a pid that is gone, a zombie, or reused by an unrelated
program means the worker died without reporting.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from workbench import paths, store

PF_KTHREAD = 0x00200000  # /proc/PID/stat flags: a kernel thread, whose command line is always empty
_children: dict[int, subprocess.Popen] = {}  # workers this process started, reaped when they end


def launch_detached(command: list[str], log_path: Path, header: str, env: dict[str, str] | None = None) -> int:
    """Start `command` from the repository with WORKBENCH_HOME set (and `env` added), appending its output to
    `log_path`."""
    env = {
        **os.environ,
        **(env or {}),
        "WORKBENCH_HOME": str(paths.home()),
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(paths.REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"\n=== {store.now()} {header} ===\n".encode())
        log.flush()
        process = subprocess.Popen(
            command,
            cwd=paths.REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    remember_child(process)
    return process.pid


def remember_child(process: subprocess.Popen) -> None:
    _children[process.pid] = process


def reap_finished() -> list[int]:
    """Collect the exit status of our workers that have ended, so none stays a zombie (`<defunct>`) under
    the app; returns their pids. The app calls this on every page it draws; it costs a poll per child."""
    ended = [pid for pid, child in list(_children.items()) if child.poll() is not None]
    for pid in ended:
        _children.pop(pid, None)
    return ended


def process_alive(pid: int, markers: tuple[str, ...]) -> bool:
    """Whether `pid` is a live process whose command line contains one of `markers`."""
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            # Our own child, running. Right after Popen it may not have exec'ed yet, so its command line is
            # still ours and the markers would not match: it must not be swept as lost.
            return True
        _children.pop(pid, None)
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/cmdline", "rb") as cmd:
            cmdline = cmd.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    state, flags = fields[0], int(fields[6])
    if state == "Z":
        return False
    if not cmdline and not flags & PF_KTHREAD:
        # Another process's worker in the middle of its exec: for a few milliseconds after Popen returned in
        # the process that launched it (measured: 293 reads in 300), its command line is still empty. Swept as
        # lost then, a job just launched by one CLI was queued again by a second one (two resumes at once).
        return True
    return any(marker in cmdline for marker in markers)
