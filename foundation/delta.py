"""Delta Lake helpers every layer uses: is a folder a table, which tables a lakehouse holds,
and Delta's own (JVM) snapshot of a table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the JVM-free readers (dashboard, `reelhouse recommend`) use this module too
    from pyspark.sql import SparkSession


def is_delta_table(path: Path) -> bool:
    """A Delta table is a folder whose `_delta_log` holds a commit; anything else (none yet, a plain
    folder, a table being created: Delta makes `_delta_log` before it writes version 0) is not."""
    log = path / "_delta_log"
    return log.is_dir() and any(entry.name.endswith(".json") and entry.name[:20].isdigit()
                                for entry in log.iterdir())


def has_commit_after(path: Path, version: int) -> bool:
    """Whether the table has a commit after `version`: its next commit file exists (Delta creates
    each commit's file atomically). A file lookup, for pollers that ask many times a second."""
    return (path / "_delta_log" / f"{version + 1:020d}.json").exists()


def find_delta_tables(home: Path, layers: tuple[str, ...]) -> list[tuple[str, str, Path]]:
    """(layer, name, path) of every Delta table under `<home>/<layer>/`, sorted.

    Folders starting with `_` or `.` are not tables (checkpoints, logs), and the folders
    inside a table (its partitions) are not searched.
    """
    found = []
    for layer in layers:
        pending = [home / layer] if (home / layer).is_dir() else []
        while pending:
            folder = pending.pop()
            if is_delta_table(folder):
                found.append((layer, folder.relative_to(home / layer).as_posix(), folder))
                continue
            pending += [child for child in folder.iterdir()
                        if child.is_dir() and not child.name.startswith(("_", "."))]
    return sorted(found)


def conflicts() -> tuple[type[Exception], ...]:
    """What Delta raises when a commit lost to another writer's. In Python these are siblings, not
    subclasses of DeltaConcurrentModificationException: catching that alone misses them all.
    Importing `delta.exceptions` is what converts Delta's JVM exceptions into these: import first."""
    from delta.exceptions import (
        ConcurrentAppendException,
        ConcurrentDeleteDeleteException,
        ConcurrentDeleteReadException,
        ConcurrentTransactionException,
        ConcurrentWriteException,
        DeltaConcurrentModificationException,
        MetadataChangedException,
        ProtocolChangedException,
    )

    return (
        ConcurrentAppendException, ConcurrentDeleteDeleteException, ConcurrentDeleteReadException,
        ConcurrentTransactionException, ConcurrentWriteException, DeltaConcurrentModificationException,
        MetadataChangedException, ProtocolChangedException,
    )


def compact(spark: SparkSession, path: Path, version: int | None = None, every: int = 1) -> bool:
    """OPTIMIZE (bin-packing) of the table at `path`, through Delta on Spark; with `version` (the
    one a writer just committed), only every `every` versions. Its conflict check refuses to commit
    over another process's compaction of the same files; delta-rs 1.6's `optimize.compact` does not
    (both commit, and every row is then there twice), so the live jobs that write with delta-rs
    compact with this. False when not due, or when another writer won: next time."""
    if version is not None and version % every:
        return False

    lost_race = conflicts()  # imported before the OPTIMIZE: the import makes PySpark raise these at all
    try:
        spark.sql(f"optimize delta.`{path}`").collect()
        return True
    except lost_race:
        return False


def delta_snapshot(spark: SparkSession, path: Path):
    """Delta's own (JVM) snapshot of the table at `path`, cached by Delta between calls."""
    jvm = spark.sparkContext._jvm
    return jvm.org.apache.spark.sql.delta.DeltaLog.forTableWithSnapshot(spark._jsparkSession, str(path))._2()
