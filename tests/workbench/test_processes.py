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
