"""`reelhouse maintain`: compaction, Z-ordering and VACUUM of every Delta table of the lakehouse.

Reads  every Delta table under `<home>/<layer>/` for the layers asked (default bronze and gold),
       found by its `_delta_log` folder, with DESCRIBE DETAIL before and after.
Writes the same tables: OPTIMIZE (ZORDER BY the date, region and video columns each has, in the
       partitions that received files; `reelhouse.maintenance.plan` says why Z-order and not
       liquid clustering), then VACUUM (files the table stopped using more than the retention ago).
       Neither changes a row: OPTIMIZE commits with dataChange = false.
Safe beside a running `reelhouse stream`: its appends never conflict with OPTIMIZE, and VACUUM
       keeps at least 7 days of removed files unless `--force-retention` (see
       `reelhouse.maintenance.plan.check_retention` for who needs them: writers, bronze's change-feed
       readers, time travel and `reelhouse train --input-version`).
Run    `reelhouse maintain [--layers bronze,gold] [--retention-hours H [--force-retention]]
       [--dry-run] [--json]`.
"""

from __future__ import annotations

import time
from pathlib import Path

from pyspark.errors import IllegalArgumentException

from foundation.delta import find_delta_tables
from foundation.errors import ReelhouseError
from foundation.settings import Settings
from foundation.spark import build_spark
from reelhouse.dbt_runner import seed_tables
from reelhouse.maintenance import io
from reelhouse.maintenance.plan import (
    MaintenanceReport,
    TableReport,
    check_retention,
    effective_retention,
    format_report,
    partition_predicate,
    plan_optimize,
    report_json,
    table_retention_hours,
)

__all__ = ["DEFAULT_LAYERS", "LAYERS", "format_report", "report_json", "run"]

LAYERS = ("bronze", "silver", "gold", "ops")
DEFAULT_LAYERS = ("bronze", "gold")
VACUUM_ATTEMPTS = 3


def run(
    settings: Settings,
    *,
    layers: tuple[str, ...] = DEFAULT_LAYERS,
    retention_hours: float | None = None,
    force_retention: bool = False,
    dry_run: bool = False,
    optimize: bool = True,
    vacuum: bool = True,
) -> MaintenanceReport:
    """Maintain every Delta table of `layers`; a report per table.

    `retention_hours` None keeps each table's own retention (168 h unless the table sets
    delta.deletedFileRetentionDuration); a table whose own is longer keeps its own; below 168 h
    is refused (ReelhouseError) unless `force_retention`. `dry_run` changes nothing: it shows
    the Z-order columns and counts the files VACUUM would delete.
    """
    check_retention(retention_hours, force_retention)
    unknown = sorted(set(layers) - set(LAYERS))
    if unknown:
        raise ReelhouseError(f"unknown layer {', '.join(unknown)}; choose from {', '.join(LAYERS)}")
    started = time.monotonic()
    spark = build_spark(settings, "reelhouse-maintain")
    report = MaintenanceReport(str(settings.home), list(layers), retention_hours, force_retention, dry_run)
    seeds = seed_tables()
    for layer, name, path in find_delta_tables(settings.home, layers):
        report.tables.append(_maintain_table(spark, layer, name, path, report, optimize, vacuum, seeds))
    report.seconds = time.monotonic() - started
    return report


def _maintain_table(spark, layer: str, name: str, path: Path, report: MaintenanceReport,
                    optimize: bool, vacuum: bool, seeds: frozenset[tuple[str, str]]) -> TableReport:
    before = io.describe(spark, layer, name, path)
    plan = plan_optimize(before, io.partition_file_counts(spark, path, before.partition_columns), seeds)
    result = TableReport(
        before.table, list(plan.zorder_by),
        partitions_optimized=None if plan.partitions is None or plan.skip else len(plan.partitions),
        files_before=before.num_files, bytes_before=before.size_bytes, note=plan.skip or "")
    if optimize and not plan.skip and not report.dry_run:
        where = partition_predicate(plan.partitions) if plan.partitions else None
        try:
            result.optimize_files_removed, result.optimize_files_added = io.optimize(
                spark, path, plan.zorder_by, where)
        except io.CONFLICTS as error:
            # another writer rewrote what OPTIMIZE read (e.g. a dbt build): nothing was committed
            result.note = f"conflict: {type(error).__name__}, run again when the writer is done"
    if vacuum:
        result.retention_hours = effective_retention(report.retention_hours, before.properties, report.forced)
        # Delta's own check refuses less than the table's retention: off only when forced below it
        check = result.retention_hours >= table_retention_hours(before.properties)
        for attempt in range(VACUUM_ATTEMPTS):
            try:
                result.vacuum_files_deleted = (
                    io.vacuum_dry_run(spark, path, result.retention_hours, check) if report.dry_run
                    else io.vacuum(spark, path, result.retention_hours, check))
                break
            except IllegalArgumentException as error:  # a retention property Delta reads longer than we do
                raise ReelhouseError(f"VACUUM of {before.table} refused: {str(error).splitlines()[0]}") from None
            except io.CONFLICTS as error:
                # VACUUM's START/END commits lost to another writer's (e.g. dbt replacing a seed);
                # it deletes only files no version reads, so running it again is safe
                if attempt + 1 == VACUUM_ATTEMPTS:
                    result.note = _join(result.note, f"conflict: {type(error).__name__} in VACUUM, run again later")
    after = io.describe(spark, layer, name, path)
    result.files_after, result.bytes_after = after.num_files, after.size_bytes
    return result


def _join(note: str, more: str) -> str:
    return f"{note}; {more}" if note else more
