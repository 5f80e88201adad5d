import subprocess
import sys
import time
from pathlib import Path

from workbench.processes import process_alive, remember_child


def test_a_child_of_ours_counts_as_alive_before_its_command_line_names_it():
    # Right after Popen a worker may not have exec'ed yet: its command line is still the parent's and
    # lacks the marker. Such a child must not be swept as lost (the app marked fresh runs interrupted).
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _wait_for_exec(child.pid, "time.sleep")
        assert process_alive(child.pid, ("no-such-marker",)) is False  # a stranger's process: markers decide
        remember_child(child)
        assert process_alive(child.pid, ("no-such-marker",)) is True
    finally:
        child.kill()
        child.wait()
    assert process_alive(child.pid, ("no-such-marker",)) is False


def _wait_for_exec(pid: int, marker: str) -> None:
    deadline = time.monotonic() + 10
    while marker not in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
        assert time.monotonic() < deadline, "the child never exec'ed"
        time.sleep(0.01)


def test_a_process_is_recognised_by_its_command_line():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "workbench.training.worker"])
    try:
        _wait_for_exec(child.pid, "workbench.training.worker")  # not a child we remember: only its command line
        assert process_alive(child.pid, ("workbench.training.worker",)) is True
        assert process_alive(child.pid, ("workbench.evaluation.worker",)) is False
    finally:
        child.kill()
        child.wait()


def test_ended_workers_are_reaped_and_leave_no_zombie(tmp_path):
    from workbench.processes import launch_detached, reap_finished

    pid = launch_detached([sys.executable, "-c", "pass"], tmp_path / "w.log", "a worker that ends at once")
    deadline = time.monotonic() + 20
    while Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline, "the worker did not end"
        time.sleep(0.05)
    assert pid in reap_finished()  # (with any other test's worker that ended meanwhile)
    assert not Path(f"/proc/{pid}").exists()  # no <defunct> left under the app
    assert pid not in reap_finished()


def test_another_processs_worker_counts_as_alive_while_its_exec_is_under_way():
    """Right after Popen returns in the process that launched it, a worker's command line reads empty for a few
    milliseconds (its exec is under way): a sweep in another process (a second CLI, the app) must not take it for
    lost. Found by two `runs resume` at once both queueing the run."""
    for _ in range(20):
        child = subprocess.Popen([sys.executable, "-c", "pass", "workbench.jobs.worker"])
        try:
            assert process_alive(child.pid, ("workbench.jobs.worker",)) is True  # not remembered: /proc decides
        finally:
            child.wait()
        assert process_alive(child.pid, ("workbench.jobs.worker",)) is False  # ended and reaped


def test_a_kernel_thread_is_never_taken_for_a_starting_worker(monkeypatch):
    """Its command line is empty too, forever: a worker's pid reused by one is a worker gone."""
    import builtins
    import io

    from workbench import processes

    kernel_stat = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 0 0 0"
    files = {"/proc/4242/stat": kernel_stat, "/proc/4242/cmdline": b""}
    real_open = builtins.open

    def fake_open(path, mode="r", *args, **kwargs):
        if path in files:
            content = files[path]
            return io.BytesIO(content) if "b" in mode else io.StringIO(content)
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    assert process_alive(4242, ("workbench",)) is False
    files["/proc/4242/stat"] = kernel_stat.replace(" 2129984 ", " 4194304 ")  # an ordinary process, exec under way
    assert process_alive(4242, ("workbench",)) is True
    assert processes.PF_KTHREAD & 2129984 and not processes.PF_KTHREAD & 4194304
