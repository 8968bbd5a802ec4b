"""`reelhouse serve`: the Spark Thrift Server over a real lakehouse, with real clients.

dbt builds silver and gold through the endpoint (`--target thrift`, the models up to a daily mart); PyHive (HiveServer2
protocol, as BI drivers speak it) then queries them. Expected figures are read from the
Delta tables directly with delta-rs, not through the endpoint.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, QueryBuilder
from pyhive import hive
from secrets_in_sight import command_lines_with

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


SECRET = "keystore-secret-4cf1e2"  # a setting the documented way for secrets: a 0600 --hiveconf-file


def _secret_file(directory):
    path = directory / "hive-secrets.conf"
    path.write_text(f"# secrets of the endpoint\nhive.server2.keystore.password={SECRET}\n")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def endpoint(spark, lakehouse_with_catalog, reelhouse_cli, tmp_path_factory):
    """The default endpoint, read-only, as BI users get it."""
    settings = lakehouse_with_catalog("serve")
    load_generated.run(spark, settings, GeneratorOptions(events=8_000, seed=9, bad_ratio=0.01, days=2))
    port = processes.free_port(31000)
    secrets = _secret_file(tmp_path_factory.mktemp("secrets"))
    started = reelhouse_cli(settings, "serve", "start", "--port", str(port), "--hiveconf-file", str(secrets),
                            timeout=300)
    assert started.returncode == 0, started.stderr[-2000:]
    try:
        yield settings, port, started.stdout
    finally:
        stopped = reelhouse_cli(settings, "serve", "stop")
        assert "stopped" in stopped.stdout


@pytest.fixture(scope="module")
def built(endpoint, reelhouse_cli, tmp_path_factory):
    """`dbt build` through a second, writable endpoint (`serve --writable`) of the models (and their tests)
    up to the mart queried below: seed, views, incremental merges and overwrites, tables;
    test_dbt_project builds them all in-process. Returns dbt's output and what `serve stop` left of the
    endpoint's generated configuration."""
    settings, read_only_port, _ = endpoint
    port = processes.free_port(read_only_port + 1)
    secrets = _secret_file(tmp_path_factory.mktemp("writable-secrets"))
    started = reelhouse_cli(settings, "serve", "start", "--port", str(port), "--writable", "--hiveconf-file",
                            str(secrets), timeout=300)
    assert started.returncode == 0, started.stderr[-2000:]
    assert "writable" in started.stdout
    conf_dir = settings.home / "_serve" / f"conf-{port}"
    try:
        result = reelhouse_cli(settings, "dbt", "build", "--target", "thrift", "--select", "+fct_daily_engagement",
                               "+dim_videos", "--indirect-selection", "cautious", timeout=1200,
                               env={"REELHOUSE_SQL_PORT": str(port)})
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        registry = "org.apache.hadoop.hive.ql.exec.FunctionRegistry"
        with _connect(port) as connection:  # the registry's static set-up, run in the server's JVM
            cursor = connection.cursor()
            cursor.execute(f"select reflect('java.lang.Class', 'forName', '{registry}')")
            registry_loaded = cursor.fetchone() == (f"class {registry}",)
    finally:
        was_there = conf_dir.exists()
        stopped = reelhouse_cli(settings, "serve", "stop", "--port", str(port))
    return {"dbt": result.stdout, "registry_loaded": registry_loaded, "conf_dir_while_running": was_there,
            "conf_dir_after_stop": conf_dir.exists(), "stopped": stopped.stdout}


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


def test_dbt_builds_silver_and_gold_through_a_writable_endpoint(built):
    assert "Completed successfully" in built["dbt"]
    assert "data tests" in built["dbt"]


def test_hive_function_registry_initialises_in_the_endpoint(built):
    # closing a session can build a new Hive client on a server thread, whose function registry loads a
    # class from hive-llap-common (pyspark does not ship it): dbt's build saw the close fail
    assert built["registry_loaded"]


def test_the_generated_configuration_is_removed_on_stop(built):
    assert built["conf_dir_while_running"] and "stopped" in built["stopped"]
    assert not built["conf_dir_after_stop"]


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


REFUSED = [
    ("delete", "delete from bronze.playback_events"),
    ("insert", "insert into bronze.playback_events select * from bronze.playback_events limit 1"),
    ("create table", "create table gold.intruder (a int) using delta"),
    ("drop table", "drop table bronze.playback_events"),
    ("vacuum", "vacuum bronze.playback_events retain 0 hours"),
    ("add jar", "add jar /tmp/intruder.jar"),
    ("create function", "create function intruder as 'org.example.Intruder'"),
    ("temporary view", "create temporary view intruder as select 1"),
    ("script transform", "select transform(1) using 'id'"),
    ("reflection", "select reflect('java.lang.System', 'getProperty', 'user.name')"),
    ("file read by path", "select * from text.`/etc/passwd`"),
    ("switching file reads on", "set spark.sql.runSQLOnFiles=true"),
    ("a catalog of the reader's class", "set spark.sql.catalog.intruder=org.example.IntruderCatalog"),
]


@pytest.mark.parametrize(("what", "statement"), REFUSED, ids=[what for what, _ in REFUSED])
def test_the_read_only_endpoint_refuses_for_that_client_only(endpoint, what, statement):
    settings, port, _ = endpoint
    before = _direct(settings, "bronze", "playback_events", "select count(*) as n from t")[0]["n"]
    with _connect(port) as refused, _connect(port) as other:
        cursor = refused.cursor()
        with pytest.raises(Exception, match="(?i)read-only|TABLE_OR_VIEW_NOT_FOUND") as error:
            cursor.execute(statement)
        if what != "file read by path":  # with file reads off, `text.` is just an unknown schema
            assert "this SQL endpoint is read-only" in str(error.value)
        cursor.execute("select count(*) from bronze.playback_events")  # the refused client goes on reading
        assert cursor.fetchone()[0] == before
        reader = other.cursor()
        reader.execute("show tables in bronze")
        assert "playback_events" in {row[1] for row in reader.fetchall()}
    assert _direct(settings, "bronze", "playback_events", "select count(*) as n from t")[0]["n"] == before


def test_a_client_switching_file_reads_on_in_its_session_still_cannot_read_a_file(endpoint, tmp_path):
    # HiveServer2 copies a session's configuration into Spark's: the check does not rely on the setting
    _, port, _ = endpoint
    private = tmp_path / "private.txt"
    private.write_text("not for BI users\n")
    connection = hive.connect(host="127.0.0.1", port=port, username="analyst",
                              configuration={"set:hiveconf:spark.sql.runSQLOnFiles": "true"})
    with connection:
        cursor = connection.cursor()
        with pytest.raises(Exception, match="reading files by path is refused"):
            cursor.execute(f"select * from text.`{private}`")


def test_a_secret_in_the_hiveconf_file_is_on_no_command_line_and_in_no_readable_file(endpoint):
    settings, _, _ = endpoint
    seen_in = command_lines_with(SECRET)
    for path in settings.home.rglob("*"):
        readable_by_others = path.is_file() and (path.stat().st_mode & 0o044
                                                 or not _owner_only_folder(path.parent, settings.home))
        if readable_by_others and SECRET.encode() in path.read_bytes():
            seen_in.append(str(path))
    assert seen_in == []
    # and the server did read it: it is in its hive-site.xml, which only its owner reads
    (hive_site,) = (settings.home / "_serve").glob("conf-*/hive-site.xml")
    assert SECRET in hive_site.read_text()
    assert hive_site.stat().st_mode & 0o777 == 0o600 and hive_site.parent.stat().st_mode & 0o777 == 0o700


def _owner_only_folder(folder, home):
    """True when some folder between `folder` and `home` lets only its owner in."""
    while folder != home.parent:
        if not folder.stat().st_mode & 0o011:
            return True
        folder = folder.parent
    return False


def _tls_keystore(directory: Path) -> tuple[Path, Path, str]:
    """A self-signed key for 127.0.0.1 (JKS, as HiveServer2 reads it) and its certificate for clients;
    keytool takes the password from the environment, never its command line."""
    password = "tls-keystore-7d0b"
    keystore, certificate = directory / "endpoint.jks", directory / "endpoint.pem"
    env = {**os.environ, "KEYSTORE_PASSWORD": password}
    for command in (
        ["-genkeypair", "-alias", "endpoint", "-keyalg", "RSA", "-keysize", "2048", "-validity", "2",
         "-dname", "CN=127.0.0.1", "-ext", "SAN=ip:127.0.0.1", "-storetype", "JKS", "-keystore", str(keystore),
         "-storepass:env", "KEYSTORE_PASSWORD", "-keypass:env", "KEYSTORE_PASSWORD"],
        ["-exportcert", "-rfc", "-alias", "endpoint", "-keystore", str(keystore),
         "-storepass:env", "KEYSTORE_PASSWORD", "-file", str(certificate)],
    ):
        subprocess.run(["keytool", *command], env=env, check=True, capture_output=True)
    return keystore, certificate, password


def _tls_connect(port: int, certificate: Path, username: str, password: str):
    """A HiveServer2 client over TLS that checks the server's certificate, logging in with LDAP."""
    import thrift_sasl
    from pyhive.hive import get_installed_sasl
    from thrift.transport.TSSLSocket import TSSLSocket

    context = ssl.create_default_context(cafile=str(certificate))
    socket = TSSLSocket("127.0.0.1", port, ssl_context=context, server_hostname="127.0.0.1")
    transport = thrift_sasl.TSaslClientTransport(
        lambda: get_installed_sasl(host="127.0.0.1", sasl_auth="PLAIN", username=username, password=password),
        "PLAIN", socket)
    return hive.connect(thrift_transport=transport, username=username)


def test_with_tls_and_ldap_switched_on_a_client_without_valid_credentials_is_refused(
        endpoint, reelhouse_env, tmp_path):
    settings, _, _ = endpoint
    port = processes.free_port(32000)
    log = tmp_path / "serve.log"
    keystore, certificate, keystore_password = _tls_keystore(tmp_path)
    secrets = tmp_path / "tls-secrets.conf"
    secrets.write_text(f"hive.server2.keystore.password={keystore_password}\n")
    secrets.chmod(0o600)
    # an LDAP server nobody runs: no password can pass, and the endpoint must have asked it
    server = subprocess.Popen(
        [sys.executable, "-m", "reelhouse.cli", "serve", "run", "--port", str(port),
         "--hiveconf", "hive.server2.authentication=LDAP",
         "--hiveconf", "hive.server2.authentication.ldap.url=ldap://127.0.0.1:1",
         "--hiveconf", "hive.server2.use.SSL=true", "--hiveconf", f"hive.server2.keystore.path={keystore}",
         "--hiveconf-file", str(secrets)],
        env=reelhouse_env(settings), stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not processes.port_open("127.0.0.1", port):
            assert server.poll() is None and time.monotonic() < deadline, "the endpoint did not start"
            time.sleep(0.5)
        # over TLS, with the server's certificate checked, the login reaches LDAP and is refused
        with pytest.raises(Exception, match="Error validating the login"):
            _tls_connect(port, certificate, "analyst", "guess").cursor().execute("select 1")
        # HiveServer2 logs through log4j: into the endpoint's log under <home>/_logs/
        jvm_log = settings.logs_dir / "reelhouse-serve.log"
        assert "Error validating LDAP user" in jvm_log.read_text(errors="replace")
        attempts = jvm_log.read_text(errors="replace").count("Error validating LDAP user")
        # a client in clear gets no session: its password never reaches the login check
        with pytest.raises(Exception) as in_clear:
            hive.connect(host="127.0.0.1", port=port, username="analyst", password="guess", auth="LDAP").cursor() \
                .execute("select 1")
        assert "Error validating the login" not in str(in_clear.value)
        assert jvm_log.read_text(errors="replace").count("Error validating LDAP user") == attempts
        assert command_lines_with(keystore_password) == []
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


@pytest.mark.parametrize(("arguments", "message"), [
    (["--host", "0.0.0.0"], "only with authentication: pass --hiveconf hive.server2.authentication=LDAP"),
    (["--host", "0.0.0.0", "--hiveconf", "hive.server2.authentication=NOSASL"], "only with authentication"),
    (["--host", "0.0.0.0", "--hiveconf", "hive.server2.authentication=LDAP",
      "--hiveconf", "hive.server2.authentication.ldap.url=ldaps://ldap.example.com"],
     "in clear: pass --hiveconf hive.server2.use.SSL=true"),
    (["--host", "0.0.0.0", "--hiveconf", "hive.server2.authentication=LDAP", "--hiveconf", "hive.server2.use.SSL=true",
      "--hiveconf", "hive.server2.authentication.ldap.url=ldap://ldap.example.com"], "an ldaps://"),
    (["--hiveconf", "hive.server2.keystore.password=visible"], "is a secret: put it in a 0600 --hiveconf-file"),
])
def test_an_unsafe_serve_is_refused_in_one_line(tmp_path, reelhouse_cli, arguments, message):
    from foundation.settings import Settings

    result = reelhouse_cli(Settings(home=tmp_path), "serve", "start", *arguments)
    assert result.returncode != 0
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not list((tmp_path / "_serve").glob("*.pid"))


def test_a_hiveconf_file_others_can_read_is_refused(tmp_path, reelhouse_cli):
    from foundation.settings import Settings

    secrets = tmp_path / "secrets.conf"
    secrets.write_text("hive.server2.keystore.password=x\n")
    secrets.chmod(0o644)
    result = reelhouse_cli(Settings(home=tmp_path), "serve", "start", "--hiveconf-file", str(secrets))
    assert result.returncode != 0 and f"`chmod 600 {secrets}`" in result.stderr


def test_off_loopback_ldap_over_tls_both_ways_is_accepted():
    sql_endpoint.require_safe_exposure("0.0.0.0", {
        "hive.server2.authentication": "LDAP", "hive.server2.use.SSL": "true",
        "hive.server2.authentication.ldap.url": "ldaps://ldap.example.com"})
    sql_endpoint.require_safe_exposure("0.0.0.0", {"hive.server2.authentication": "KERBEROS"})
    sql_endpoint.require_safe_exposure("127.0.0.1", {})
