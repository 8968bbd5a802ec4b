import re
import socket
import threading

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from foundation.catalog import CATALOG_ATTEMPTS, PASSWORD_KEY, spark_conf
from foundation.secret_files import write_private_text
from foundation.settings import Settings


def test_a_postgres_catalog_names_its_driver_and_user_but_never_its_password():
    """The conf goes on the Spark JVM's command line: the session factory sets the password inside it."""
    conf = spark_conf("10.0.0.5", 5432, Settings.from_env({}).jars_cache, "postgres")
    assert conf["spark.hadoop.javax.jdo.option.ConnectionURL"] == "jdbc:postgresql://10.0.0.5:5432/metastore"
    assert conf["spark.hadoop.javax.jdo.option.ConnectionDriverName"] == "org.postgresql.Driver"
    assert conf["spark.driver.extraClassPath"].rsplit("/", 1)[-1].startswith("postgresql-")
    assert PASSWORD_KEY not in conf and not any("password" in key.lower() for key in conf)


def test_a_derby_catalog_connects_with_derbys_client():
    conf = spark_conf("127.0.0.1", 1527, Settings.from_env({}).jars_cache)
    assert conf["spark.hadoop.javax.jdo.option.ConnectionURL"].startswith("jdbc:derby://127.0.0.1:1527/")
    assert conf["spark.driver.extraClassPath"].rsplit("/", 1)[-1].startswith("derbyclient-")


@pytest.mark.integration
@pytest.mark.parametrize("lakehouse", ["empty", "with a table to register"])
def test_a_job_whose_catalog_database_is_gone_gives_up_after_a_few_attempts(lakehouse, tmp_path, reelhouse_cli):
    """Hive retries a lost catalog database 10 times (each try with retries of its own): a dbt build
    whose PostgreSQL was killed as it connected took 7 minutes to fail. Here the database's port
    answers the CLI's check once and then refuses every connection. With a table in the lakehouse
    the job fails while naming it in the catalog, before the statement: the same one line."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def answer_the_check_then_go_away() -> None:
        connection, _ = listener.accept()
        connection.close()
        listener.close()

    threading.Thread(target=answer_the_check_then_go_away, daemon=True).start()
    settings = Settings.from_env({"REELHOUSE_HOME": str(tmp_path)}).with_overrides(
        metastore_port=port, metastore_database="postgres")
    if lakehouse != "empty":
        write_deltalake(str(settings.table_path("bronze", "playback_events")), pa.table({"event_id": ["e1"]}))
    settings.metastore_password_path.parent.mkdir(parents=True)
    write_private_text(settings.metastore_password_path, "a-password")
    result = reelhouse_cli(settings, "sql", "show schemas", timeout=600)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"the catalog database at jdbc:postgresql://127.0.0.1:{port}/" in result.stderr, result.stderr
    assert "reelhouse metastore status" in result.stderr
    tries = re.findall(r"Retrying HMSHandler after \d+ ms \(attempt (\d+) of (\d+)\)",
                       (settings.logs_dir / "reelhouse-sql.log").read_text())
    assert tries and {int(of) for _, of in tries} == {CATALOG_ATTEMPTS}, tries
