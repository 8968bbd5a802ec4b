"""The one place that builds a SparkSession: Delta extensions and catalog, jars, master, logs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyspark.sql import SparkSession

from foundation import class_archive, jars, logs
from foundation.catalog import PASSWORD_KEY as METASTORE_PASSWORD_KEY
from foundation.catalog import client_jar, require_metastore
from foundation.catalog import spark_conf as metastore_spark_conf
from foundation.errors import ReelhouseError
from foundation.secret_files import read_secret
from foundation.settings import Settings

# Spark generates methods up to 64 KB; HotSpot leaves any above 8 KB to the interpreter. The
# stream's validation (one generated method for the whole parse) ran 2x slower without this.
JIT_HUGE_METHODS = "-XX:-DontCompileHugeMethods"
# The throughput collector: on 2 cores G1's concurrent work competes with the tasks; with the
# parallel one the stream and live-recommender tests took ~7 % less time and CPU (README, Two commands).
THROUGHPUT_GC = "-XX:+UseParallelGC"
JVM_OPTIONS = f"{JIT_HUGE_METHODS} {THROUGHPUT_GC}"


def build_spark(
    settings: Settings, app_name: str, extra_conf: dict[str, str] | None = None, catalog: bool = False,
    driver_classpath: list[Path] | None = None, record_classes_to: Path | None = None,
) -> SparkSession:
    """The session of a job. With `catalog`, tables are named in the shared metastore
    (`reelhouse metastore start`); without, the job works on Delta paths only.

    `driver_classpath` (even empty) puts the jars and those entries on the driver's own class
    path: the Thrift Server runs each client's statements with a class loader that does not
    see `spark.jars` (Delta's classes were not found there).

    The driver maps the class archive `reelhouse jars` recorded for its class path, if there is
    one; `record_classes_to` makes it record one there instead when its JVM exits."""
    # an in-process SparkContext takes its workers' Python from this variable, not from the conf
    os.environ["PYSPARK_PYTHON"] = settings.worker_python
    extra_jars = _driver_jars(settings)
    log_config = logs.log4j2_config(settings.logs_dir, app_name, settings.verbose)
    conf = {
        "spark.app.name": app_name,
        "spark.master": settings.spark_master,
        "spark.jars": ",".join(str(j) for j in extra_jars),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        # commits to local and NFS tables atomic across our processes (Delta's default only within one JVM)
        "spark.delta.logStore.file.impl": jars.ATOMIC_LOG_STORE,
        # a stream's offsets and commits published atomically too, without Hadoop forking `chmod`
        # and `readlink` for each (about 0.1 s a micro-batch)
        "spark.sql.streaming.checkpointFileManagerClass": jars.ATOMIC_CHECKPOINT_FILE_MANAGER,
        # a stream with nothing new looks again after this long, not Spark's 10 ms: an idle
        # `reelhouse stream` (each batch when the last ends) kept 0.6 of the two cores busy asking Kafka
        "spark.sql.streaming.pollingDelay": "250ms",
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        "spark.driver.memory": settings.driver_memory,
        # Delta rebuilds a table's state (for readers and checkpoints) with a shuffle of this
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
            + JVM_OPTIONS,
        "spark.executor.extraJavaOptions": JVM_OPTIONS,
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
    archive_option = _class_archive_option(settings, conf, record_classes_to)
    if archive_option:
        conf["spark.driver.extraJavaOptions"] += " " + archive_option
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


def _driver_jars(settings: Settings) -> list[Path]:
    """The jars a driver adds to pyspark's own (`spark.jars`): Delta, the Kafka source, our classes."""
    return [*jars.spark_extra_jars(settings.jars_cache), jars.own_classes_jar(settings.jars_cache)]


def _class_archive_option(settings: Settings, conf: dict[str, str], record_classes_to: Path | None) -> str:
    """The driver's JVM option for its class archive: record one, map the recorded one, or none."""
    if record_classes_to:
        return class_archive.recording_option(record_classes_to)
    return class_archive.sharing_option(_class_archive(settings, conf)) if settings.class_archive else ""


def _class_archive(settings: Settings, conf: dict[str, str]) -> Path | None:
    """Where the class archive of a driver started with `conf` is (or would be) kept."""
    class_path = [Path(p) for p in conf.get("spark.driver.extraClassPath", "").split(os.pathsep) if p]
    loaded = [*jars.pyspark_jars_dir().glob("*.jar"), *(Path(j) for j in conf["spark.jars"].split(",") if j)]
    return class_archive.archive_path(settings.jars_cache, class_path, loaded)


def class_archive_of(settings: Settings) -> Path | None:
    """The class archive of a job's driver on Delta paths (recorded or not)."""
    return _class_archive(settings, _archive_conf(settings, ()))


def _archive_conf(settings: Settings, class_path: tuple[Path, ...]) -> dict[str, str]:
    """The parts of a driver's conf its class archive depends on."""
    conf = {"spark.jars": ",".join(map(str, _driver_jars(settings)))}
    if class_path:
        conf["spark.driver.extraClassPath"] = os.pathsep.join(map(str, class_path))
    return conf


def record_class_archive(settings: Settings, class_path: tuple[Path, ...] = ()) -> Path | None:
    """Record the class archive of drivers whose class path starts with `class_path` (once: an
    archive already there is kept): a driver in its own process runs a short Delta workload and
    writes the classes it loaded when its JVM exits. None where there is no Java runtime."""
    archive = _class_archive(settings, _archive_conf(settings, class_path))
    if archive is None or archive.is_file():
        return archive
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(f"{archive.stem}.partial-{os.getpid()}.jsa")
    training_home = archive.with_name(f"training-{os.getpid()}")
    environment = {**os.environ, **settings.environment(), "REELHOUSE_HOME": str(training_home)}
    try:
        try:
            result = subprocess.run(
                [sys.executable, "-c", "import sys; from foundation.spark import _record_classes; "
                 "_record_classes(sys.argv[1], sys.argv[2:])", str(partial), *map(str, class_path)],
                env=environment, capture_output=True, text=True, timeout=600,
            )
        except subprocess.TimeoutExpired as timeout:
            raise ReelhouseError(f"recording the Spark class archive took over {timeout.timeout:.0f} s") from None
        if result.returncode != 0 or not partial.is_file():
            raise ReelhouseError(f"could not record the Spark class archive: {(result.stderr or result.stdout)[-400:]}"
                                 f" (logs: {training_home / '_logs'})")
        partial.replace(archive)  # atomic: a driver maps no archive or a whole one
    finally:
        partial.unlink(missing_ok=True)
    shutil.rmtree(training_home, ignore_errors=True)
    return archive


def record_class_archives(settings: Settings) -> list[Path]:
    """The class archives of the drivers we start: a job's on Delta paths, and a catalog
    session's in Derby or PostgreSQL (whose JDBC driver comes first on its class path)."""
    variants = [(), (client_jar(settings.jars_cache, "derby"),), (client_jar(settings.jars_cache, "postgres"),)]
    return [archive for variant in variants if (archive := record_class_archive(settings, variant))]


def _record_classes(partial: str, class_path: list[str]) -> None:
    """The training run of `record_class_archive`, in its own process: the classes a stream, a
    dbt model and a training job load first (Delta writes, reads and merges, JSON, aggregates)."""
    settings = Settings.from_env(os.environ).with_overrides(spark_master="local[2]", shuffle_partitions=2)
    extra = {"spark.driver.extraClassPath": os.pathsep.join(class_path)} if class_path else {}
    spark = build_spark(settings, "class-archive", extra_conf=extra, record_classes_to=Path(partial))
    table = str(settings.home / "training")
    rows = spark.range(2_000).selectExpr(
        "id", "cast(id % 7 as string) as genre", "to_json(named_struct('watch', id * 1.5)) as raw",
        "date_add(date'2026-01-01', cast(id % 3 as int)) as day")
    parsed = rows.selectExpr("*", "from_json(raw, 'watch double') as event").selectExpr("*", "event.watch as watch")
    parsed.write.format("delta").partitionBy("day").save(table)
    spark.sql(f"merge into delta.`{table}` t using (select * from delta.`{table}` where id < 100) s "
              "on t.id = s.id when matched then update set * when not matched then insert *")
    spark.sql(f"select genre, count(*), sum(watch), max(day) from delta.`{table}` group by genre").collect()
    spark.sql(f"select id, row_number() over (partition by genre order by watch desc) from delta.`{table}`") \
        .where("id < 10").collect()
    spark.sql(f"describe history delta.`{table}`").collect()
    spark.stop()
    # the archive is written as the JVM exits: end it and wait, rather than leave it to the interpreter's exit
    from pyspark import SparkContext

    gateway = SparkContext._gateway.proc
    gateway.stdin.close()
    gateway.wait(timeout=300)


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
