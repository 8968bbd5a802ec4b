"""The shared catalog, as its clients see it: the Hive metastore's JDBC address, the Spark
settings that make a session use it, and naming Delta tables in it.

The server itself (an Apache Derby network server on loopback, or PostgreSQL for shared use) is
started by `reelhouse metastore start` (`reelhouse/services/metastore.py`, `postgres_metastore.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyspark.sql import SparkSession

from foundation import jars, processes
from foundation.delta import is_delta_table
from foundation.errors import ReelhouseError

DATABASE = "metastore_db"
DRIVER = "org.apache.derby.jdbc.ClientDriver"
POSTGRES_DATABASE = "metastore"
POSTGRES_DRIVER = "org.postgresql.Driver"
POSTGRES_USER = "reelhouse"
PASSWORD_KEY = "spark.hadoop.javax.jdo.option.ConnectionPassword"
URL_KEY = "spark.hadoop.javax.jdo.option.ConnectionURL"
CATALOG_ATTEMPTS = 3  # Hive's tries at a lost catalog database before a job fails (its default: 10)
LOST_CATALOG = "Unable to instantiate org.apache.hadoop.hive.ql.metadata.SessionHiveMetaStoreClient"


def jdbc_url(host: str, port: int) -> str:
    return f"jdbc:derby://{host}:{port}/{DATABASE};create=true"


def postgres_jdbc_url(host: str, port: int) -> str:
    return f"jdbc:postgresql://{host}:{port}/{POSTGRES_DATABASE}"


def spark_conf(host: str, port: int, jars_cache: Path, database: str = "derby") -> dict[str, str]:
    """What a SparkSession needs to use this metastore as its catalog. No password: for
    PostgreSQL the session factory sets PASSWORD_KEY inside the JVM, off its command line."""
    if database == "postgres":
        connection = {
            URL_KEY: postgres_jdbc_url(host, port),
            "spark.hadoop.javax.jdo.option.ConnectionDriverName": POSTGRES_DRIVER,
            "spark.hadoop.javax.jdo.option.ConnectionUserName": POSTGRES_USER,
        }
    else:
        connection = {
            URL_KEY: jdbc_url(host, port),
            "spark.hadoop.javax.jdo.option.ConnectionDriverName": DRIVER,
        }
    return {
        "spark.sql.catalogImplementation": "hive",
        **connection,
        "spark.hadoop.hive.metastore.schema.verification": "false",
        "spark.hadoop.datanucleus.schema.autoCreateAll": "false",
        # Delta keeps the real schema in its log and a placeholder in the metastore; without this,
        # every `create or replace` logs a failed "incompatible column types" check
        "spark.hadoop.hive.metastore.disallow.incompatible.col.type.changes": "false",
        # Hive's 10 tries, each of 10 connection attempts 2 s apart, kept a build whose database died as
        # it connected waiting 7 minutes to fail; 3 tries of 3 (~30 s) still ride out a restart
        "spark.hadoop.hive.hmshandler.retry.attempts": str(CATALOG_ATTEMPTS),
        # the JDBC driver must be on the driver's own class path, where DataNucleus looks
        "spark.driver.extraClassPath": str(client_jar(jars_cache, database)),
    }


def client_jar(jars_cache: Path, database: str) -> Path:
    """The JDBC driver of the metastore's database, which a catalog session's driver loads."""
    driver_jar = "postgresql-" if database == "postgres" else "derbyclient-"
    return next(j for j in jars.resolve("metastore", jars_cache) if j.name.startswith(driver_jar))


def require_metastore(host: str, port: int) -> None:
    if not processes.port_open(host, port):
        raise ReelhouseError(f"no metastore at {host}:{port}; start it with `reelhouse metastore start`")


def register_in_catalog(spark: SparkSession, tables: dict[str, Path]) -> list[str]:
    """Name the Delta tables that exist at their paths in the session's catalog.

    `tables` maps `schema.table` to a path; a path with no Delta table yet is skipped.
    Registering is idempotent, so every job that needs names (dbt, the SQL endpoint) can.
    Returns the names registered.
    """
    registered = []
    with catalog_reached(spark):
        for name, path in tables.items():
            if not is_delta_table(path):
                continue
            schema = name.split(".")[0]
            spark.sql(f"create schema if not exists {schema}")
            spark.sql(f"create table if not exists {name} using delta location '{path}'")
            registered.append(name)
    return registered


def run_statement(spark: SparkSession, statement: str, limit: int) -> tuple[list[str], list[list[str]]]:
    """One SQL statement on the catalog: its column names and up to `limit` rows as text.
    A statement Spark refuses ends in its first line, as a ReelhouseError."""
    from pyspark.errors import PySparkException

    try:
        with catalog_reached(spark):
            result = spark.sql(statement)
            return result.columns, [list(map(str, row)) for row in result.limit(limit).collect()]
    except PySparkException as error:
        raise ReelhouseError(str(error).strip().splitlines()[0]) from None


@contextmanager
def catalog_reached(spark: SparkSession) -> Iterator[None]:
    """Spark calls on the catalog; Hive failing to reach its database (it names only the client
    class it could not build) becomes a ReelhouseError that names the database and what to check."""
    from pyspark.errors import PySparkException

    try:
        yield
    except PySparkException as error:
        if LOST_CATALOG not in str(error):
            raise
        url = spark.conf.get(URL_KEY, "its JDBC address").split(";")[0]
        raise ReelhouseError(f"the catalog database at {url} did not answer ({CATALOG_ATTEMPTS} attempts): check it "
                             "with `reelhouse metastore status`; details in the job's log under <home>/_logs") from None
