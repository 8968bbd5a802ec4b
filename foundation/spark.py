"""The one place that builds a SparkSession: Delta extensions and catalog, jars, master, logs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyspark.sql import SparkSession

from foundation import jars, logs
from foundation.catalog import PASSWORD_KEY as METASTORE_PASSWORD_KEY
from foundation.catalog import require_metastore
from foundation.catalog import spark_conf as metastore_spark_conf
from foundation.secret_files import read_secret
from foundation.settings import Settings

# Spark generates methods up to 64 KB; HotSpot leaves any above 8 KB to the interpreter. The
# stream's validation (one generated method for the whole parse) ran 2x slower without this.
JIT_HUGE_METHODS = "-XX:-DontCompileHugeMethods"


def build_spark(
    settings: Settings, app_name: str, extra_conf: dict[str, str] | None = None, catalog: bool = False,
    driver_classpath: list[Path] | None = None,
) -> SparkSession:
    """The session of a job. With `catalog`, tables are named in the shared metastore
    (`reelhouse metastore start`); without, the job works on Delta paths only.

    `driver_classpath` (even empty) puts the jars and those entries on the driver's own class
    path: the Thrift Server runs each client's statements with a class loader that does not
    see `spark.jars` (Delta's classes were not found there)."""
    # an in-process SparkContext takes its workers' Python from this variable, not from the conf
    os.environ["PYSPARK_PYTHON"] = settings.worker_python
    extra_jars = [*jars.spark_extra_jars(settings.jars_cache), jars.own_classes_jar(settings.jars_cache)]
    log_config = logs.log4j2_config(settings.logs_dir, app_name, settings.verbose)
    conf = {
        "spark.app.name": app_name,
        "spark.master": settings.spark_master,
        "spark.jars": ",".join(str(j) for j in extra_jars),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        # commits to local and NFS tables atomic across our processes (Delta's default only within one JVM)
        "spark.delta.logStore.file.impl": jars.ATOMIC_LOG_STORE,
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        "spark.driver.memory": settings.driver_memory,
        # Delta rebuilds a table's state (for every idempotent write) with a shuffle of this
        # many partitions: its default of 50 cost ~4 s per commit here, 1 costs ~0.6 s
        "spark.databricks.delta.snapshotPartitions": "1",
        "spark.sql.session.timeZone": "UTC",
        "spark.pyspark.python": settings.worker_python,
        "spark.ui.showConsoleProgress": "false",
        "spark.ui.enabled": "false",
        # Delta's own log-store and schema checks are enough; keep local metadata out of cwd.
        "spark.sql.warehouse.dir": str(settings.home / "_warehouse"),
        "spark.driver.extraJavaOptions":
            f"-Dderby.system.home={settings.home / '_derby'} -Dlog4j2.configurationFile={log_config} "
            + JIT_HUGE_METHODS,
        "spark.executor.extraJavaOptions": JIT_HUGE_METHODS,
    }
    if catalog:
        require_metastore(settings.metastore_host, settings.metastore_port)
        conf.update(metastore_spark_conf(settings.metastore_host, settings.metastore_port, settings.jars_cache,
                                         settings.metastore_database))
    conf.update(extra_conf or {})
    if driver_classpath is not None:
        conf["spark.driver.extraClassPath"] = os.pathsep.join(
            [str(p) for p in [*driver_classpath, *extra_jars]]
            + [p for p in [conf.get("spark.driver.extraClassPath")] if p])
    # the JVM's command line carries `conf` (visible in `ps`): secrets are set inside it afterwards
    _launch_jvm(conf, None if settings.verbose else logs.log_file(settings.logs_dir, app_name))
    builder = SparkSession.builder
    secrets = {**_cluster_secret_conf(settings), **(_metastore_secret_conf(settings) if catalog else {})}
    for key, value in {**conf, **secrets}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


@contextmanager
def releasing_new_caches(spark: SparkSession, names: tuple[str, ...]) -> Iterator[None]:
    """Unpersist the RDDs named `names` that were persisted inside the block, e.g. the factors an
    ALS fit keeps cached, which no DataFrame call releases: in a long session they fill the heap.
    By name, so that a DataFrame cached before the block and first computed inside it stays cached."""
    before = set(spark.sparkContext._jsc.getPersistentRDDs().keys())
    try:
        yield
    finally:
        for rdd_id, rdd in list(spark.sparkContext._jsc.getPersistentRDDs().items()):
            if rdd_id not in before and rdd.name() in names:
                rdd.unpersist(False)


def _cluster_secret_conf(settings: Settings) -> dict[str, str]:
    """`spark.authenticate` for a standalone cluster whose secret file the settings name."""
    if not (settings.spark_master.startswith("spark://") and settings.spark_secret_file):
        return {}
    secret = read_secret(Path(settings.spark_secret_file))
    return {"spark.authenticate": "true", "spark.authenticate.secret": secret}


def _metastore_secret_conf(settings: Settings) -> dict[str, str]:
    """The PostgreSQL metastore's password, from its 0600 file (Derby here has no login)."""
    if settings.metastore_database != "postgres":
        return {}
    return {METASTORE_PASSWORD_KEY: read_secret(settings.metastore_password_path)}


def _launch_jvm(conf: dict[str, str], log: Path | None) -> None:
    """Start this process's Spark JVM (once), its own output appended to `log` (the JVM prints a
    few lines outside log4j, e.g. "WARNING: Using incubator modules"), or on the terminal."""
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    with SparkContext._lock:
        if SparkContext._gateway is None:
            spark_conf = SparkConf(loadDefaults=False).setAll(list(conf.items()))
            if log is None:
                gateway = launch_gateway(spark_conf)
            else:
                with log.open("ab") as out:
                    gateway = launch_gateway(spark_conf, popen_kwargs={"stdout": out, "stderr": out})
            SparkContext._gateway, SparkContext._jvm = gateway, gateway.jvm
