"""A command prints progress and results; Spark's, Delta's and Hive's logs go to <home>/_logs/
(and to the terminal too with --verbose)."""

import pytest

pytestmark = pytest.mark.integration


def test_jvm_logs_go_to_the_home_and_to_the_terminal_only_when_verbose(settings, tmp_path, reelhouse_cli):
    quiet_home = settings.with_overrides(home=tmp_path / "quiet")
    quiet = reelhouse_cli(quiet_home, "load-generated", "--events", "200", "--bad-ratio", "0.1", timeout=600)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert "loaded 200 generated records" in quiet.stdout
    assert quiet.stderr == ""
    spark_log = quiet_home.home / "_logs" / "reelhouse-load-generated.log"
    assert " WARN " in spark_log.read_text()  # Spark always warns about something at start-up

    verbose_home = settings.with_overrides(home=tmp_path / "verbose")
    verbose = reelhouse_cli(verbose_home, "load-generated", "--events", "200", "--verbose", timeout=600)
    assert verbose.returncode == 0, verbose.stderr[-2000:]
    assert " WARN " in verbose.stderr
    assert " WARN " in (verbose_home.home / "_logs" / "reelhouse-load-generated.log").read_text()


def test_a_missing_interactions_file_is_refused_before_a_jvm_starts(settings, tmp_path, reelhouse_cli):
    home = settings.with_overrides(home=tmp_path)
    result = reelhouse_cli(home, "train", "--interactions", str(tmp_path / "absent.csv"), "--output", "top.csv")
    assert result.returncode == 1
    assert result.stderr.strip() == f"reelhouse: error: {tmp_path / 'absent.csv'}: no such file"
    assert not (tmp_path / "_logs").exists()  # no Spark session was built
