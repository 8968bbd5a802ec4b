"""A wrong argument gets one line on stderr and a non-zero exit, never a traceback."""

import subprocess
import sys

import pytest


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reelhouse.cli", *args], capture_output=True, text=True, env=env)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["produce", "--events", "many"], "expected a whole number, got 'many'"),
        (["produce", "--events", "0"], "expected a number above 0"),
        (["produce", "--bad-ratio", "1.5"], "expected a ratio between 0 and 1"),
        (["produce", "--start", "last tuesday"], "expected an ISO-8601 time or 'now'"),
        (["produce", "--days", "0"], "argument --days: expected a number above 0"),
        (["monitor", "--experience-threshold", "120"], "expected a score between 0 and 100, got 120"),
        (["kafka", "restart"], "invalid choice: 'restart'"),
        (["kafka", "start", "--port", "70000"], "expected a port number up to 65535"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["metastore", "begin"], "invalid choice: 'begin'"),
        (["cluster", "start", "--memory", "lots"], "expected an amount like 512m or 4g, got 'lots'"),
        (["cluster", "start", "--workers", "0"], "expected a number above 0"),
        (["maintain", "--layers", "bronze,platinum"], "expected layers from bronze,silver,gold,ops"),
        (["maintain", "--retention-hours", "-1"], "argument --retention-hours"),
        (["bench", "dbt", "--sizes", "1000,none"], "expected a whole number, got 'none'"),
        (["load-generated", "--events", "-3"], "expected a number above 0"),
        (["train", "-k", "0"], "expected a number above 0"),
        (["train", "--input-version", "-1"], "expected a number of 0 or more"),
        (["train", "--only", "everything"], "invalid choice: 'everything'"),
        (["recommend", "-k", "3"], "the following arguments are required: --user"),
        (["bench", "ml", "--interactions"], "expected one argument"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_wrong_argument_gets_a_one_line_error(args, fragment):
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_broker_is_a_one_line_error(tmp_path):
    import os

    env = {**os.environ, "REELHOUSE_HOME": str(tmp_path), "REELHOUSE_KAFKA_PORT": "1"}
    for command in (["produce", "--events", "5"], ["stream", "--available-now"]):
        result = run_cli(*command, env=env)
        assert result.returncode == 1
        assert result.stderr.strip() == (
            "reelhouse: error: no Kafka broker at 127.0.0.1:1; start one with `reelhouse kafka start`")


def test_missing_metastore_is_a_one_line_error(tmp_path):
    import os

    env = {**os.environ, "REELHOUSE_HOME": str(tmp_path), "REELHOUSE_METASTORE_PORT": "1"}
    for command in (["dbt", "build"], ["sql", "show tables"]):
        result = run_cli(*command, env=env)
        assert result.returncode == 1
        assert result.stderr.strip() == (
            "reelhouse: error: no metastore at 127.0.0.1:1; start it with `reelhouse metastore start`"
        )


def test_dbt_without_a_command_is_a_one_line_error():
    result = run_cli("dbt")
    assert result.returncode == 1
    assert result.stderr.strip() == "reelhouse: error: name a dbt command, e.g. `reelhouse dbt build`"


def test_bad_environment_value_is_a_one_line_error(tmp_path):
    import os

    for variable, value, why in (("REELHOUSE_KAFKA_PORT", "ninety", "expected int, got 'ninety'"),
                                 ("REELHOUSE_DRIVER_MEMORY", "lots", "expected an amount like 512m or 4g, got 'lots'")):
        result = run_cli("counts", env={**os.environ, "REELHOUSE_HOME": str(tmp_path), variable: value})
        assert result.returncode == 1
        assert result.stderr == f"reelhouse: error: {variable}: {why}\n"


def test_help_lists_the_subcommands():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("kafka", "produce", "stream", "bench", "demo"):
        assert command in result.stdout


def test_train_and_recommend_problems_are_one_line_errors(tmp_path):
    import os

    env = {**os.environ, "REELHOUSE_HOME": str(tmp_path)}
    ratings = tmp_path / "ratings.csv"
    ratings.write_text("user_id,item_id\n1,2\n")
    cases = [
        (["train"], f"no gold table gold.fct_views at {tmp_path / 'gold' / 'fct_views'}; build it first"),
        (["train", "--interactions", str(ratings)], "--interactions needs --output"),
        (["train", "--interactions", str(tmp_path / "r.dat"), "--output", "o.csv"], "unknown extension '.dat'"),
        (["train", "--interactions", str(ratings), "--output", "o.json"], "unknown extension '.json'"),
        (["train", "--output", "o.csv"], "--output goes with --interactions"),
        (["recommend", "--user", "u1"], "no gold.user_recommendations at"),
    ]
    for command, fragment in cases:
        result = run_cli(*command, env=env)
        assert result.returncode == 1, (command, result.stderr)
        assert result.stderr.count("\n") == 1, result.stderr
        assert fragment in result.stderr
