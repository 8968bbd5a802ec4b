"""Every Delta operation of `reelhouse maintain`: finding tables, DESCRIBE DETAIL, OPTIMIZE, VACUUM."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from foundation.delta import conflicts, delta_snapshot
from reelhouse.maintenance.plan import TableState

# a commit that lost to a concurrent one (e.g. a dbt build rewriting the partitions OPTIMIZE read)
CONFLICTS = conflicts()
RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
LISTING_PARALLELISM = "spark.sql.sources.parallelPartitionDiscovery.parallelism"


def describe(spark: SparkSession, layer: str, name: str, path: Path) -> TableState:
    """The table's DESCRIBE DETAIL (files, bytes, partitioning, properties) and columns."""
    table = DeltaTable.forPath(spark, str(path))
    detail = table.detail().first()
    return TableState(
        layer=layer, name=name, path=path,
        columns=tuple(table.toDF().columns),
        partition_columns=tuple(detail["partitionColumns"] or ()),
        clustering_columns=tuple(detail["clusteringColumns"] or ()),
        properties=dict(detail["properties"] or {}),
        num_files=detail["numFiles"],
        size_bytes=detail["sizeInBytes"],
    )


def partition_file_counts(spark: SparkSession, path: Path,
                          partition_columns: tuple[str, ...]) -> list[tuple[dict[str, str | None], int]]:
    """(partition values, data files) of every partition, from the table's log (no data read)."""
    if not partition_columns:
        return []
    files = DataFrame(delta_snapshot(spark, path).allFiles().toDF(), spark)
    counts = files.groupBy(*[F.col("partitionValues")[c].alias(c) for c in partition_columns]).count().collect()
    return [({c: row[c] for c in partition_columns}, row["count"]) for row in counts]


def optimize(spark: SparkSession, path: Path, zorder_by: tuple[str, ...], where: str | None) -> tuple[int, int]:
    """OPTIMIZE (ZORDER BY `zorder_by` when given) the partitions `where` selects; (files removed, added).

    OPTIMIZE commits with dataChange = false: the stream's blind appends do not conflict
    with it, and change-feed readers and streaming readers of the table skip its commit.
    """
    builder = DeltaTable.forPath(spark, str(path)).optimize()
    if where:
        builder = builder.where(where)
    result = builder.executeZOrderBy(*zorder_by) if zorder_by else builder.executeCompaction()
    metrics = result.first()["metrics"]
    return metrics["numFilesRemoved"], metrics["numFilesAdded"]


@contextmanager
def _vacuum_conf(spark: SparkSession, check: bool) -> Iterator[None]:
    """Session settings for one VACUUM, put back after it.

    Delta lists the table's folders in as many tasks as spark.sql.sources.parallelPartition
    Discovery.parallelism, 10,000 by default: 10,000-task stages took a small table's VACUUM
    from 3 s to 75 s on 2 cores. Two tasks per core list a local or HDFS table fine.
    `check=False` switches Delta's own retention check off (`--force-retention`).
    """
    conf = {LISTING_PARALLELISM: str(2 * spark.sparkContext.defaultParallelism)}
    if not check:
        conf[RETENTION_CHECK] = "false"
    previous = {key: spark.conf.get(key, None) for key in conf}
    for key, value in conf.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def _vacuum_sql(path: Path, hours: float, dry_run: bool) -> str:
    retain = format(hours, "f").rstrip("0").rstrip(".")  # 168, 0.5: never 1e+06
    return f"VACUUM delta.`{str(path).replace('`', '``')}` RETAIN {retain} HOURS" + (" DRY RUN" if dry_run else "")


def vacuum(spark: SparkSession, path: Path, hours: float, check: bool = True) -> int | None:
    """VACUUM the table, deleting the files it stopped using more than `hours` ago; the files it deleted.

    The count is the `numDeletedFiles` of the VACUUM END commit Delta logs (None if it logged none).
    `check=False` lets a retention below the table's own through (`--force-retention`).
    """
    table = DeltaTable.forPath(spark, str(path))
    before = table.history(1).first()["version"]
    with _vacuum_conf(spark, check):
        spark.sql(_vacuum_sql(path, hours, dry_run=False)).collect()
    latest = table.history(1).first()["version"]
    ends = (table.history(latest - before).where("operation = 'VACUUM END'")
            .select("operationMetrics.numDeletedFiles").collect())
    return sum(int(row[0]) for row in ends) if ends else None


def vacuum_dry_run(spark: SparkSession, path: Path, hours: float, check: bool = True) -> int:
    """The number of files VACUUM would delete now, deleting none."""
    with _vacuum_conf(spark, check):
        return spark.sql(_vacuum_sql(path, hours, dry_run=True)).count()
