import subprocess
import sys

from foundation import processes


def test_a_recorded_pid_is_ours_while_its_process_runs(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        pid_file = tmp_path / "x.pid"
        processes.record_pid(pid_file, child.pid)
        assert processes.pid_alive(pid_file, b"time.sleep") == child.pid
        assert processes.pid_alive(pid_file, b"something else") is None
    finally:
        child.kill()
        child.wait()
    assert processes.pid_alive(pid_file, b"time.sleep") is None


def test_a_reused_pid_with_another_start_time_is_not_taken_for_ours(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        pid_file = tmp_path / "x.pid"
        # the same pid, as if recorded for an earlier process that started at another time
        pid_file.write_text(f"{child.pid} {int(processes.start_time(child.pid)) - 1}")
        assert processes.pid_alive(pid_file, b"time.sleep") is None
    finally:
        child.kill()
        child.wait()
