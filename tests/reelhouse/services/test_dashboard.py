"""The dashboard's launcher: the Streamlit command it runs, a busy port refused in one line, and no
non-loopback bind without --trusted-network (it has no login)."""

from __future__ import annotations

import socket

import pytest

from foundation.errors import ReelhouseError
from foundation.settings import Settings
from reelhouse.services import dashboard


def test_the_launch_command_serves_the_app_headless_on_the_given_address(tmp_path):
    command = dashboard.command("127.0.0.2", 8765, refresh_seconds=3)
    environment = dashboard.environment(Settings.from_env({"REELHOUSE_HOME": str(tmp_path)}))

    assert command[1:4] == ["-m", "streamlit", "run"] and command[4].endswith("dashboard/app.py")
    pairs = dict(zip(command[5:-3:2], command[6:-3:2], strict=True))
    assert pairs["--server.address"] == "127.0.0.2" and pairs["--server.port"] == "8765"
    assert pairs["--server.headless"] == "true"
    assert command[-3:] == ["--", "--refresh-seconds", "3"]
    assert environment["REELHOUSE_HOME"] == str(tmp_path)


def test_starting_on_a_busy_port_is_a_one_line_error(tmp_path):
    settings = Settings.from_env({"REELHOUSE_HOME": str(tmp_path)})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ReelhouseError, match=f"port {port} on 127.0.0.1 is busy"):
            dashboard.Dashboard(settings, port=port).start()
    assert dashboard.Dashboard(settings).status() is None
    assert dashboard.Dashboard(settings).stop() == ["dashboard not running"]


@pytest.mark.parametrize("action", ["start", "run"])
def test_off_loopback_without_trusted_network_is_refused_before_anything_starts(tmp_path, action):
    settings = Settings.from_env({"REELHOUSE_HOME": str(tmp_path)})
    with pytest.raises(ReelhouseError, match="no login: it listens on 0.0.0.0 only with --trusted-network"):
        getattr(dashboard.Dashboard(settings, host="0.0.0.0", port=0), action)()
    assert dashboard.Dashboard(settings).status() is None

