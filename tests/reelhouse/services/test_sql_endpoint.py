"""`reelhouse serve`: the Spark Thrift Server over a real lakehouse, with real clients.

dbt builds silver and gold through the endpoint (`--target thrift`, the models up to a daily mart); PyHive (HiveServer2
protocol, as BI drivers speak it) then queries them. Expected figures are read from the
Delta tables directly with delta-rs, not through the endpoint.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pyarrow as pa
import pytest
from deltalake import DeltaTable, QueryBuilder
from pyhive import hive

from foundation import processes
from ingestion.generator import GeneratorOptions
from ingestion.jobs import load_generated
from reelhouse.services import sql_endpoint

pytestmark = pytest.mark.integration


def _direct(settings, layer, table, sql):
    delta = DeltaTable(str(settings.table_path(layer, table)))
    return pa.table(QueryBuilder().register("t", delta).execute(sql).read_all()).to_pylist()


def _connect(port):
    return hive.connect(host="127.0.0.1", port=port, username="analyst")


@pytest.fixture(scope="module")
def endpoint(spark, lakehouse_with_catalog, reelhouse_cli):
    settings = lakehouse_with_catalog("serve")
    load_generated.run(spark, settings, GeneratorOptions(events=8_000, seed=9, bad_ratio=0.01, days=2))
    port = processes.free_port(31000)
    started = reelhouse_cli(settings, "serve", "start", "--port", str(port), timeout=300)
    assert started.returncode == 0, started.stderr[-2000:]
    try:
        yield settings, port, started.stdout
    finally:
        stopped = reelhouse_cli(settings, "serve", "stop")
        assert "stopped" in stopped.stdout


@pytest.fixture(scope="module")
def built(endpoint, reelhouse_cli):
    """`dbt build` through the endpoint of the models (and their tests) up to the mart queried below:
    seed, views, incremental merges and overwrites, tables; test_dbt_project builds them all in-process."""
    settings, port, _ = endpoint
    result = reelhouse_cli(settings, "dbt", "build", "--target", "thrift", "--select", "+fct_daily_engagement",
                           "+dim_videos", "--indirect-selection", "cautious", timeout=1200,
                           env={"REELHOUSE_SQL_PORT": str(port)})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result.stdout


def test_start_names_the_jdbc_url_and_status_sees_it(endpoint, reelhouse_cli):
    settings, port, output = endpoint
    assert f"jdbc:hive2://127.0.0.1:{port}/default" in output
    assert reelhouse_cli(settings, "serve", "status").returncode == 0


def test_bronze_is_registered_when_the_endpoint_starts(endpoint):
    settings, port, _ = endpoint
    with _connect(port) as connection:
        cursor = connection.cursor()
        cursor.execute("select count(*) from bronze.playback_events")
        (count,) = cursor.fetchone()
    assert count == _direct(settings, "bronze", "playback_events", "select count(*) as n from t")[0]["n"] > 7_000


def test_dbt_builds_silver_and_gold_through_the_endpoint(built):
    assert "Completed successfully" in built
    assert "data tests" in built


def test_a_gold_query_through_the_endpoint_equals_the_delta_table(endpoint, built):
    settings, port, _ = endpoint
    sql = ("select genre, sum(views) as views, round(sum(watch_hours), 6) as hours "
           "from {table} group by genre order by genre")
    with _connect(port) as connection:
        cursor = connection.cursor()
        cursor.execute(sql.format(table="gold.fct_daily_engagement"))
        served = [tuple(row) for row in cursor.fetchall()]
    direct = [(r["genre"], r["views"], r["hours"]) for r in _direct(settings, "gold", "fct_daily_engagement",
                                                                   sql.format(table="t"))]
    assert served == direct
    assert len(served) >= 5


def test_sessions_of_different_users_open_and_close_without_a_server_error(endpoint):
    # closing a session can build a new Hive client on the server thread (another user's thread, or a
    # fresh one), whose function registry loads a class from hive-llap-common: pyspark does not ship it
    settings, port, _ = endpoint
    with _connect(port) as connection:  # the registry's static set-up, run in the server's JVM
        cursor = connection.cursor()
        registry = "org.apache.hadoop.hive.ql.exec.FunctionRegistry"
        cursor.execute(f"select reflect('java.lang.Class', 'forName', '{registry}')")
        assert cursor.fetchone() == (f"class {registry}",)
    users = ("analyst", "dbt", "bi")
    connections = [hive.connect(host="127.0.0.1", port=port, username=users[n % 3]) for n in range(6)]
    for connection in connections + [hive.connect(host="127.0.0.1", port=port, username=u) for u in users]:
        cursor = connection.cursor()
        cursor.execute("select count(*) from bronze.playback_events")
        assert cursor.fetchone()[0] > 0
        connection.close()
    jvm_log = settings.logs_dir / "reelhouse-serve.log"
    assert "NoClassDefFoundError" not in jvm_log.read_text(errors="replace")


def test_a_bad_query_fails_for_its_client_only(endpoint):
    _, port, _ = endpoint
    with _connect(port) as broken, _connect(port) as other:
        bad = broken.cursor()
        with pytest.raises(Exception, match="(?i)no_such_table|not found|cannot be found"):
            bad.execute("select * from gold.no_such_table")
        with pytest.raises(Exception, match="(?i)syntax|parse"):
            bad.execute("selec 1")
        good = other.cursor()
        good.execute("select count(*) from bronze.playback_events")
        assert good.fetchone()[0] > 0
        bad.execute("select 41 + 1")  # and the client that erred can go on
        assert bad.fetchone() == (42,)


def test_with_ldap_switched_on_a_client_without_valid_credentials_is_refused(endpoint, reelhouse_env, tmp_path):
    settings, _, _ = endpoint
    port = processes.free_port(32000)
    log = tmp_path / "serve.log"
    # an LDAP server nobody runs: no password can pass, and the endpoint must have asked it
    server = subprocess.Popen(
        [sys.executable, "-m", "reelhouse.cli", "serve", "run", "--port", str(port),
         "--hiveconf", "hive.server2.authentication=LDAP",
         "--hiveconf", "hive.server2.authentication.ldap.url=ldap://127.0.0.1:1"],
        env=reelhouse_env(settings), stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not processes.port_open("127.0.0.1", port):
            assert server.poll() is None and time.monotonic() < deadline, "the endpoint did not start"
            time.sleep(0.5)
        with pytest.raises(Exception, match="Error validating the login"):
            hive.connect(host="127.0.0.1", port=port, username="analyst", password="guess", auth="LDAP").cursor() \
                .execute("select 1")
        # HiveServer2 logs through log4j: into the endpoint's log under <home>/_logs/
        jvm_log = settings.logs_dir / "reelhouse-serve.log"
        assert "Error validating LDAP user" in jvm_log.read_text(errors="replace")
    finally:
        processes.terminate(server.pid, 30)


def test_every_delta_table_of_the_three_layers_is_named_and_nothing_else(tmp_path):
    for path in ("bronze/events/_delta_log", "gold/fct_a/_delta_log", "_models/m/_delta_log",
                 "silver/stg_b/_delta_log"):
        (tmp_path / path).mkdir(parents=True)
        (tmp_path / path / "00000000000000000000.json").write_text("{}\n")
    (tmp_path / "gold/not_delta").mkdir()
    (tmp_path / "gold/being_created/_delta_log").mkdir(parents=True)  # Delta makes the folder before version 0
    assert sql_endpoint.lakehouse_tables(tmp_path) == {
        "bronze.events": tmp_path / "bronze/events", "silver.stg_b": tmp_path / "silver/stg_b",
        "gold.fct_a": tmp_path / "gold/fct_a"}
