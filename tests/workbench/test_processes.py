import subprocess
import sys

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


def test_a_process_is_recognised_by_its_command_line():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "workbench.training.worker"])
    try:
        assert process_alive(child.pid, ("workbench.training.worker",)) is True
        assert process_alive(child.pid, ("workbench.evaluation.worker",)) is False
    finally:
        child.kill()
        child.wait()
