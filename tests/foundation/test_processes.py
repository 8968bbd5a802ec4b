import os
import shutil
import subprocess
import sys
import time

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


def test_a_pid_file_copied_with_its_home_does_not_name_a_process_of_the_copy(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        original, copy = tmp_path / "home" / "x.pid", tmp_path / "copy" / "x.pid"
        processes.record_pid(original, child.pid)
        copy.parent.mkdir()
        shutil.copy(original, copy)
        assert processes.pid_alive(original, b"time.sleep") == child.pid
        assert processes.pid_alive(copy, b"time.sleep") is None
    finally:
        child.kill()
        child.wait()


def test_a_start_waits_for_another_start_or_stop_of_the_same_service(tmp_path, settings):
    """The real CLI: while the lock is held (another start under way), `api start` must wait."""
    home = settings.with_overrides(home=tmp_path / "home")
    lock = home.home / "_locks" / "recommendations-API.lock"
    port = processes.free_port(33100)
    env = {**os.environ, **home.environment()}
    with processes.exclusive(lock, "test"):
        starting = subprocess.Popen([sys.executable, "-m", "reelhouse.cli", "api", "start", "--port", str(port)],
                                    env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(8)  # far longer than the CLI takes to reach the spawn
        assert starting.poll() is None and not (home.home / "_api" / "api.pid").exists()
    try:
        output = starting.communicate(timeout=120)[0]
        assert starting.returncode == 0 and "recommendations API at" in output, output
    finally:
        subprocess.run([sys.executable, "-m", "reelhouse.cli", "api", "stop"], env=env, capture_output=True,
                       timeout=60)
